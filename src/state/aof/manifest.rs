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
    /// Parse a manifest as Redis's `aofLoadManifestFromFile` does:
    /// `file <name> seq <n> type <b|h|i>` lines (keys in any case, more
    /// pairs allowed), a `#` in the first column a comment, history (`h`)
    /// entries skipped. Its errors are Redis's, in its FATAL block: a
    /// blank line, a line of more than 1024 bytes (or a last line without
    /// its newline), a missing field, a path for a name, two bases,
    /// increments out of order, an unknown type, a file without lines.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        const MAX_LINE: usize = 1024;
        let mut m = Manifest::default();
        if text.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        let fatal = |n: usize, line: &str, err: &str| {
            format!(
                "\n*** FATAL AOF MANIFEST FILE ERROR ***\nReading the manifest file, at line {n}\n>>> '{line}'\n{err}"
            )
        };
        let mut rest = text;
        let mut n = 0;
        while !rest.is_empty() {
            n += 1;
            let (raw, complete) = match rest.find('\n') {
                Some(end) if end < MAX_LINE => (&rest[..=end], true),
                _ => (&rest[..rest.len().min(MAX_LINE)], false),
            };
            rest = &rest[raw.len()..];
            if raw.starts_with('#') {
                // (A comment past 1024 bytes goes on as a line of its own,
                // as Redis's `fgets` reads it.)
                continue;
            }
            if !complete {
                return Err("The AOF manifest file contains too long line".into());
            }
            let line = raw.trim_matches([' ', '\t', '\r', '\n']);
            let invalid = || fatal(n, line, "Invalid AOF manifest file format");
            if line.is_empty() {
                return Err(invalid());
            }
            let words = split_words(line).ok_or_else(invalid)?;
            if words.len() < 6 || words.len() % 2 == 1 {
                return Err(invalid());
            }
            let (mut name, mut seq, mut kind) = (None, 0u64, None);
            for pair in words.chunks(2) {
                let (k, v) = (&pair[0], &pair[1]);
                if k.eq_ignore_ascii_case("file") {
                    if v.contains('/') {
                        return Err(fatal(n, line, "File can't be a path, just a filename"));
                    }
                    name = Some(v.clone());
                } else if k.eq_ignore_ascii_case("seq") {
                    // `atoll`: the leading digits, 0 without any.
                    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
                    seq = digits.parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("type") {
                    kind = v.chars().next();
                }
            }
            let (Some(name), Some(kind)) = (name.filter(|n| !n.is_empty()), kind) else {
                return Err(invalid());
            };
            if seq == 0 {
                return Err(invalid());
            }
            let part = Part { name, seq };
            match kind {
                'b' if m.base.is_some() => {
                    return Err(fatal(n, line, "Found duplicate base file information"))
                }
                'b' => m.base = Some(part),
                'i' => {
                    if m.incrs.last().is_some_and(|p| p.seq >= seq) {
                        return Err(fatal(n, line, "Found a non-monotonic sequence number"));
                    }
                    m.incrs.push(part)
                }
                'h' => {}
                _ => return Err(fatal(n, line, "Unknown AOF file type")),
            }
        }
        Ok(m)
    }

    /// The manifest's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(b) = &self.base {
            out.push_str(&format!(
                "file {} seq {} type b\n",
                name_field(&b.name),
                b.seq
            ));
        }
        for p in &self.incrs {
            out.push_str(&format!(
                "file {} seq {} type i\n",
                name_field(&p.name),
                p.seq
            ));
        }
        out
    }

    /// The next base's number. Bases and increments are numbered apart,
    /// as Redis numbers them (`curr_base_file_seq`, `curr_incr_file_seq`):
    /// an old single-file AOF migrated as base 1 gets increment 1.
    pub(super) fn next_base_seq(&self) -> u64 {
        self.base.as_ref().map_or(0, |b| b.seq) + 1
    }

    /// The next increment's number.
    pub(super) fn next_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(0, |p| p.seq) + 1
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

/// A manifest line's words, split as Redis's `sdssplitargs` splits them
/// (quotes, and `\n`, `\xHH`... escapes inside double quotes).
fn split_words(line: &str) -> Option<Vec<String>> {
    let words = crate::protocol::split_inline(line.as_bytes())?;
    Some(
        words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
    )
}

/// A file name as Redis writes it in the manifest (`aofInfoFormat`): as
/// is, or quoted and escaped (`sdscatrepr`) when it holds a space, a
/// quote, a backslash or a character that does not print.
fn name_field(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|c| c.is_ascii_graphic() && c != b'\\' && c != b'"');
    if plain {
        return name.to_string();
    }
    let mut out = bytes::BytesMut::new();
    crate::state::monitor::repr(&mut out, name.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
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
        assert_eq!((m.next_base_seq(), m.next_incr_seq()), (3, 3));
        let migrated = Manifest::parse("file appendonly.aof seq 1 type b\n").unwrap();
        assert_eq!((migrated.next_base_seq(), migrated.next_incr_seq()), (2, 1));
        let quoted =
            Manifest::parse("file \"a b.aof\" seq 1 type b\n# note\nfile x.1.aof seq 1 type h\n")
                .unwrap();
        assert_eq!(quoted.base.unwrap().name, "a b.aof");
        // A name with spaces and newlines, as Redis writes and reads it.
        let odd = Manifest {
            base: Some(Part {
                name: " file seq \n\n.aof .2.base.rdb".into(),
                seq: 2,
            }),
            incrs: Vec::new(),
        };
        let text = odd.render();
        assert_eq!(
            text,
            "file \" file seq \\n\\n.aof .2.base.rdb\" seq 2 type b\n"
        );
        assert_eq!(Manifest::parse(&text), Ok(odd));
        assert_eq!(
            Manifest::parse("# only a comment\n"),
            Ok(Manifest::default()),
            "an empty manifest is one without lines"
        );
        let e = Manifest::parse("file a seq 1 type b\n\n").unwrap_err();
        assert!(
            e.ends_with("at line 2\n>>> ''\nInvalid AOF manifest file format"),
            "{e}"
        );
        let long = format!("file {} seq 1 type b\n", "a".repeat(1100));
        assert_eq!(
            Manifest::parse(&long).unwrap_err(),
            "The AOF manifest file contains too long line"
        );
        for bad in [
            "",
            "file a seq 1 type b",
            "file a seq 1 type b extra\n",
            "file a seq 1\n",
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
