import "./styles.css";
import { boot } from "./app/app";
import { toHuddleError } from "./bridge/api";

const root = document.getElementById("app")!;
boot(root).catch((e: unknown) => {
  const err = toHuddleError(e);
  const p = document.createElement("p");
  p.className = "fatal";
  p.setAttribute("role", "alert");
  p.textContent = `Huddle couldn't start: ${err.message || err.code}`;
  root.replaceChildren(p);
});
