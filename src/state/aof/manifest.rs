//! The AOF manifest: which files make the AOF, in Redis 7's format.

use std::fs::{self, File};
use std::io;
use std::path::Path;

/// One file of the AOF, as the manifest names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// File name inside the AOF directory.
    pub name: String,
    /// Its sequence number.
    pub seq: u64,
}

/// The manifest: the base (if any) and the incremental files, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base file.
    pub base: Option<Part>,
    /// Incremental files, oldest first.
    pub incrs: Vec<Part>,
}

impl Manifest {
    /// Parse a manifest (Redis's `aofLoadManifestFromFile`): `file <name>
    /// seq <n> type <b|h|i>` lines; `#` comments and history (`h`)
    /// entries are skipped.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_words(line)
                .ok_or_else(|| format!("Invalid AOF manifest file format (line {})", i + 1))?;
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                let [k, v] = pair else {
                    return Err(format!("Invalid AOF manifest file format (line {})", i + 1));
                };
                match k.as_str() {
                    "file" => name = Some(v.clone()),
                    "seq" => seq = v.parse::<u64>().ok(),
                    "type" => kind = Some(v.clone()),
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(format!("Invalid AOF manifest file format (line {})", i + 1));
            };
            if name.contains('/') {
                return Err(format!(
                    "File can't be a path, just a filename (line {})",
                    i + 1
                ));
            }
            let part = Part { name, seq };
            match kind.as_str() {
                "b" if m.base.is_some() => {
                    return Err("Found duplicate base file information".into())
                }
                "b" => m.base = Some(part),
                "i" => {
                    if m.incrs.last().is_some_and(|p| p.seq >= seq) {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incrs.push(part)
                }
                "h" => {}
                other => return Err(format!("Unknown AOF file type '{other}'")),
            }
        }
        if m.base.is_none() && m.incrs.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    /// The manifest's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(b) = &self.base {
            out.push_str(&format!("file {} seq {} type b\n", b.name, b.seq));
        }
        for p in &self.incrs {
            out.push_str(&format!("file {} seq {} type i\n", p.name, p.seq));
        }
        out
    }

    pub(super) fn next_seq(&self) -> u64 {
        let base = self.base.as_ref().map_or(0, |b| b.seq);
        let incr = self.incrs.last().map_or(0, |p| p.seq);
        base.max(incr) + 1
    }

    /// Write the manifest at `path`: a temporary file, synced, renamed
    /// over it, and the directory synced.
    pub fn store(&self, path: &Path) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let temp = dir.join(format!(
            "temp-{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("manifest")
        ));
        fs::write(&temp, self.render())?;
        File::open(&temp)?.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    }
}

/// Words of a manifest line; a word may be double-quoted (Redis quotes
/// names with spaces).
fn split_words(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut w = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => w.push(chars.next()?),
                    c => w.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_parse_and_render_as_redis_writes_them() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().seq, 2);
        assert_eq!(m.incrs.len(), 1);
        assert_eq!(m.render(), text);
        assert_eq!(m.next_seq(), 3);
        let quoted =
            Manifest::parse("file \"a b.aof\" seq 1 type b\n# note\nfile x.1.aof seq 1 type h\n")
                .unwrap();
        assert_eq!(quoted.base.unwrap().name, "a b.aof");
        for bad in [
            "",
            "file a seq x type b\n",
            "file a seq 1 type z\n",
            "file a/b seq 1 type b\n",
            "file a seq 1 type b\nfile b seq 1 type b\n",
            "file a seq 2 type i\nfile b seq 1 type i\n",
            "file \"a seq 1 type b\n",
        ] {
            assert!(Manifest::parse(bad).is_err(), "{bad:?}");
        }
    }
}
