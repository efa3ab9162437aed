//! The engine's layering rule (see the doc comment of `src/lib.rs`): a top-level module
//! uses only modules listed before it. Read from the sources, so a new `crate::…` path
//! that points the wrong way fails here with the file and line.

use std::path::{Path, PathBuf};

/// Lowest first, as in `src/lib.rs`.
const LAYERS: &[&str] = &[
    "media",
    "stats",
    "capture",
    "playout",
    "codec",
    "congestion",
    "peer",
    "pipeline",
    "signaling",
    "session",
    "devices",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the source tree") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::NAME` in `text` (in `use` lines and inline paths alike).
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            // `$crate::` in macros is the same crate.
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((n + 1, name));
        }
    }
    found
}

#[test]
fn no_module_uses_one_listed_after_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let dir = src.join(layer);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{layer}.rs")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (line, name) in crate_paths(&text) {
                let Some(target) = LAYERS.iter().position(|l| *l == name) else {
                    continue;
                };
                if target > rank {
                    violations.push(format!(
                        "{}:{line}: {layer} uses crate::{name}",
                        file.strip_prefix(&src).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "modules using a module listed after them in src/lib.rs:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_top_level_module_is_ranked() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("read lib.rs");
    for line in lib.lines() {
        let declared = line
            .trim()
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ")
            .strip_prefix("mod ")
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(name) = declared {
            assert!(LAYERS.contains(&name), "{name} is not in LAYERS");
        }
    }
}
