import { defineConfig } from "vite";

export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  envPrefix: ["VITE_", "TAURI_ENV_"],
  build: {
    // WebKitGTK 2.4x ≈ Safari 15+
    target: "safari15",
    sourcemap: false,
    outDir: "dist",
    emptyOutDir: true,
  },
});
