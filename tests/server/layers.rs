//! The dependency rule of `src/lib.rs`, checked on the source: each layer
//! imports only layers below it, so `protocol`, `db`, `state` and `cmd`
//! never import `server`, and `state` never imports `cmd`.

use std::path::Path;

/// The layers, lowest first. `backends` (the one list of backends, used
/// by `config` for `BackendKind`) sits beside the bottom.
const LAYERS: &[&str] = &[
    "util", "backends", "protocol", "db", "config", "state", "cmd", "server",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::<module>` a file names (in `use` lines and paths).
fn imports(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        found.push(name);
    }
    found
}

/// Violations of the rule in the source tree rooted at `src`.
fn violations(src: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let dir = src.join(layer);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let single = src.join(format!("{layer}.rs"));
        if single.is_file() {
            files.push(single);
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for name in imports(&text) {
                let Some(target) = LAYERS.iter().position(|l| *l == name) else {
                    continue;
                };
                if target > rank {
                    bad.push(format!("{} imports crate::{name}", file.display()));
                }
            }
        }
    }
    bad
}

#[test]
fn layers_import_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    let dir = std::env::temp_dir().join(format!("flashkv-layers-{}", std::process::id()));
    let cmd = dir.join("cmd");
    std::fs::create_dir_all(&cmd).unwrap();
    std::fs::write(
        cmd.join("mod.rs"),
        "use crate::server::ServerState;\nuse crate::db::Db;\n",
    )
    .unwrap();
    let bad = violations(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].ends_with("imports crate::server"));
}
