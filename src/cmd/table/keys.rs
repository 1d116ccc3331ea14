//! Finding a command's keys in its arguments: the key specs (Redis's
//! `getKeysUsingKeySpecs`), their flags (COMMAND GETKEYSANDFLAGS), and the
//! commands whose keys Redis finds with a function of their own (SORT's
//! STORE, MIGRATE's KEYS).

use bytes::Bytes;

use super::{Begin, CommandMeta, Find, M};

impl CommandMeta {
    /// The keys of `argv` (name first), by the key specs, as Redis's
    /// `getKeysUsingKeySpecs` finds them; `None` when the arguments do not
    /// fit a spec (a syntax error the command will report).
    pub fn keys<'a>(&self, argv: &'a [Bytes]) -> Option<Vec<&'a Bytes>> {
        Some(
            self.keys_by_spec(argv)?
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
        )
    }

    /// [`keys`](Self::keys), each with the index of the key spec that
    /// found it.
    fn keys_by_spec<'a>(&self, argv: &'a [Bytes]) -> Option<Vec<(&'a Bytes, usize)>> {
        let argc = argv.len() as i64;
        let mut out = Vec::new();
        for (index, spec) in self.key_specs.iter().enumerate() {
            let first = match spec.begin {
                Begin::Index(i) => i64::from(i),
                Begin::Keyword(word, from) => {
                    let from = i64::from(from);
                    let (start, end) = if from > 0 {
                        (from, argc - 1)
                    } else {
                        (argc + from, 1)
                    };
                    let mut found = None;
                    let mut i = start;
                    while i >= 1 && i < argc {
                        if argv[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                            found = Some(i + 1);
                            break;
                        }
                        if i == end {
                            break;
                        }
                        i += if start <= end { 1 } else { -1 };
                    }
                    match found {
                        Some(f) => f,
                        None => continue,
                    }
                }
                // Described only by the command's own key function
                // (SORT's STORE): see `proc_keys`.
                Begin::Unknown => continue,
            };
            let (first, last, step) = match spec.find {
                Find::Range {
                    lastkey,
                    step,
                    limit,
                } => {
                    let last = if lastkey >= 0 {
                        first + i64::from(lastkey)
                    } else if limit == 0 {
                        argc + i64::from(lastkey)
                    } else {
                        first + ((argc - first) / i64::from(limit) + i64::from(lastkey))
                    };
                    (first, last, i64::from(step.max(1)))
                }
                Find::Keynum {
                    keynumidx,
                    firstkey,
                    step,
                } => {
                    let at = first + i64::from(keynumidx);
                    if at >= argc {
                        return None;
                    }
                    let n =
                        crate::util::numbers::string2ll(&argv[at as usize]).filter(|&n| n >= 0)?;
                    let first = first + i64::from(firstkey);
                    (first, first + n - 1, i64::from(step.max(1)))
                }
                Find::Unknown => continue,
            };
            if first >= argc || last >= argc || last < first {
                return None;
            }
            let mut i = first;
            while i <= last {
                out.push((&argv[i as usize], index));
                i += step;
            }
        }
        Some(out)
    }

    /// The flags of key spec `index` (`RW`, `access`...), from COMMAND
    /// INFO's key specs.
    fn spec_flags(&self, index: usize) -> Vec<&'static str> {
        let M::A(fields) = &self.info else {
            return vec![];
        };
        let specs = match fields.get(8) {
            Some(M::A(specs) | M::Set(specs)) => specs,
            _ => return vec![],
        };
        let Some(M::Map(spec)) = specs.get(index) else {
            return vec![];
        };
        spec.iter()
            .find(|(k, _)| matches!(k, M::B("flags")))
            .and_then(|(_, v)| match v {
                M::Set(flags) => Some(
                    flags
                        .iter()
                        .filter_map(|f| if let M::S(s) = f { Some(*s) } else { None })
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// COMMAND GETKEYSANDFLAGS: every key of `argv` with its spec's flags
    /// (SORT's STORE key is `OW update`, as `sortGetKeys` says).
    pub fn keys_and_flags<'a>(
        &self,
        argv: &'a [Bytes],
    ) -> Option<Vec<(&'a Bytes, Vec<&'static str>)>> {
        let mut out: Vec<(&Bytes, Vec<&'static str>)> = self
            .keys_by_spec(argv)?
            .into_iter()
            .map(|(k, i)| {
                let flags = self.spec_flags(i);
                if !flags.contains(&"variable_flags") {
                    return (k, flags);
                }
                // The flags the command's own key function decides
                // (`setGetKeys`: RW and access only with GET).
                let get = argv[3..].iter().any(|a| a.eq_ignore_ascii_case(b"get"));
                let flags = if self.name == "set" && !get {
                    vec!["OW", "update"]
                } else {
                    flags
                        .into_iter()
                        .filter(|f| *f != "variable_flags")
                        .collect()
                };
                (k, flags)
            })
            .collect();
        if self.name == "sort" {
            if let Some(store) = sort_store_key(argv) {
                out.push((store, vec!["OW", "update"]));
            }
        }
        Some(out)
    }

    /// The keys of `argv`, as COMMAND GETKEYS and transactions need them:
    /// the key specs, plus the keys of the commands Redis finds with a
    /// function of their own (`sortGetKeys`).
    pub fn all_keys<'a>(&self, argv: &'a [Bytes]) -> Option<Vec<&'a Bytes>> {
        if self.name == "migrate" {
            return migrate_keys(argv);
        }
        let mut keys = self.keys(argv)?;
        if self.name == "sort" {
            keys.extend(sort_store_key(argv));
        }
        Some(keys)
    }
}

/// SORT's STORE destination, as Redis's `sortGetKeys` finds it: options
/// are skipped with their arguments, the last STORE wins.
fn sort_store_key(argv: &[Bytes]) -> Option<&Bytes> {
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let skip = match () {
            _ if argv[i].eq_ignore_ascii_case(b"limit") => 2,
            _ if argv[i].eq_ignore_ascii_case(b"get") || argv[i].eq_ignore_ascii_case(b"by") => 1,
            _ if argv[i].eq_ignore_ascii_case(b"store") => {
                store = argv.get(i + 1);
                1
            }
            _ => 0,
        };
        i += 1 + skip;
    }
    store
}

/// MIGRATE's keys, as Redis's `migrateGetKeys` finds them: the key
/// argument, or with the KEYS option every argument after it (and the
/// key argument, then empty, is not one).
fn migrate_keys(argv: &[Bytes]) -> Option<Vec<&Bytes>> {
    let mut i = 6;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"keys") {
            if !argv[3].is_empty() {
                return None;
            }
            return Some(argv[i + 1..].iter().collect());
        }
        i += match () {
            _ if a.eq_ignore_ascii_case(b"auth") => 2,
            _ if a.eq_ignore_ascii_case(b"auth2") => 3,
            _ => 1,
        };
    }
    argv.get(3).map(|k| vec![k])
}
