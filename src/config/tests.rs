use super::*;

fn run(args: &[&str]) -> Result<Config, ConfigError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match Config::from_args(&args, || Ok(String::new()))? {
        Invocation::Run(c) => Ok(*c),
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults_match_redis() {
    let c = run(&[]).unwrap();
    assert_eq!(
        (c.port, c.maxclients, c.tcp_backlog, c.databases),
        (6379, 10_000, 511, 16)
    );
    assert_eq!(c.bind, vec!["127.0.0.1"]);
    assert_eq!(c.proto_max_bulk_len, 512 << 20);
    assert!(c.protected_mode);
}

#[test]
fn command_line_flags_set_directives() {
    let c = run(&[
        "--port",
        "7000",
        "--bind",
        "127.0.0.1",
        "::1",
        "--backend",
        "epoch",
        "--databases",
        "4",
        "--maxclients",
        "50",
    ])
    .unwrap();
    assert_eq!(c.port, 7000);
    assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
    assert_eq!(c.backend, BackendKind::Epoch);
    assert_eq!((c.databases, c.maxclients), (4, 50));
}

#[test]
fn config_file_is_read_and_flags_override_it() {
    let dir = std::env::temp_dir().join(format!("flashkv-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("redis.conf");
    std::fs::write(&path, "# comment\nport 7001\n  maxclients 20\nrequirepass \"se cret\"\nsave \"\"\nclient-output-buffer-limit pubsub 1mb 512kb 10\n").unwrap();
    let c = run(&[path.to_str().unwrap(), "--port", "7002"]).unwrap();
    assert_eq!(c.port, 7002);
    assert_eq!(c.maxclients, 20);
    assert_eq!(c.requirepass, "se cret");
    assert_eq!(
        c.output_limits.pubsub,
        OutputLimit {
            hard: 1 << 20,
            soft: 512 << 10,
            soft_secs: 10
        }
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_options_are_errors_with_the_line() {
    let e = run(&["--port", "7000", "--nosuch", "1"]).unwrap_err();
    assert_eq!((e.line, e.text.as_str()), (3, "nosuch \"1\""));
    assert!(run(&["--port", "x"])
        .unwrap_err()
        .reason
        .contains("integer"));
    assert!(run(&["--port"]).is_err());
    assert!(run(&["--backend", "btree"]).is_err());
    assert!(run(&["--appendonly", "maybe"]).is_err());
    assert!(run(&["--appendonly", "no"]).is_ok());
    assert!(run(&["/no/such/file.conf"]).is_err());
}

#[test]
fn memory_units_follow_memtoull() {
    assert_eq!(parse_memory("1k"), Ok(1000));
    assert_eq!(parse_memory("1KB"), Ok(1024));
    assert_eq!(parse_memory("512mb"), Ok(512 << 20));
    assert_eq!(parse_memory("1gb"), Ok(1 << 30));
    assert!(parse_memory("1xb").is_err());
    assert!(parse_memory("-1").is_err());
}

#[test]
fn config_set_is_all_or_nothing() {
    let c = Config::default();
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    let next = c
        .set_many(&pairs(&[("timeout", "5"), ("hz", "20")]))
        .unwrap();
    assert_eq!((next.timeout, next.expiry.hz), (5, 20));
    assert_eq!(
        c.set_many(&pairs(&[("timeout", "5"), ("maxclients", "x")]))
            .unwrap_err(),
        SetError::Failed(
            "maxclients".into(),
            "argument couldn't be parsed into an integer".into()
        )
    );
    assert_eq!(
        c.set_many(&pairs(&[("timeout", "5"), ("timeout", "6")]))
            .unwrap_err(),
        SetError::Failed("timeout".into(), "duplicate parameter".into())
    );
    assert_eq!(
        c.set_many(&pairs(&[("databases", "4")])).unwrap_err(),
        SetError::Failed("databases".into(), "can't set immutable config".into())
    );
    assert_eq!(
        c.set_many(&pairs(&[("nope", "1")])).unwrap_err(),
        SetError::Unknown("nope".into())
    );
    // Redis changes `port` and `bind` at runtime; FlashKV changes the port
    // (CONFIG SET then listens anew), and takes the value `bind` has (a
    // tool setting every parameter back) but refuses a change.
    assert!(c
        .set_many(&pairs(&[("port", "6379"), ("bind", "127.0.0.1")]))
        .is_ok());
    assert_eq!(c.set_many(&pairs(&[("port", "6380")])).unwrap().port, 6380);
    assert!(matches!(
        c.set_many(&pairs(&[("bind", "10.0.0.1")])).unwrap_err(),
        SetError::Failed(name, _) if name == "bind"
    ));
    let next = c.set_many(&pairs(&[("loglevel", "verbose")])).unwrap();
    assert_eq!(next.loglevel, LogLevel::Verbose);
}

#[test]
fn redis_parameters_of_missing_features_are_accepted_only_where_inert() {
    // A tuning of a feature FlashKV lacks: accepted, checked, reported.
    let c = run(&["--repl-timeout", "30", "--slave-read-only", "no"]).unwrap();
    let got = c.get_matching(&[b"repl-timeout", b"replica-read-only"]);
    assert_eq!(
        got,
        vec![
            ("repl-timeout".to_string(), "30".to_string()),
            ("replica-read-only".to_string(), "no".to_string())
        ]
    );
    assert!(run(&["--repl-timeout", "0"]).is_err());
    // Switching a missing feature on fails loudly; its "off" value is fine.
    for on in [
        &["--tls-port", "6380"][..],
        &["--unixsocket", "/tmp/flashkv.sock"],
        &["--activedefrag", "yes"],
    ] {
        assert!(run(on).is_err(), "{on:?} accepted");
    }
    assert!(run(&["--tls-port", "0", "--activedefrag", "no"]).is_ok());
    // CONFIG REWRITE writes a changed parameter once, under its own name.
    let text = c.rewrite_text("");
    assert!(text.contains("repl-timeout 30\n"), "{text}");
    assert!(text.contains("replica-read-only no\n"), "{text}");
    assert!(!text.contains("slave-read-only"), "{text}");
    // A hidden test knob is left out of a glob, answered by its name.
    let c = run(&["--rdb-key-save-delay", "5"]).unwrap();
    assert!(c
        .get_matching(&[b"*"])
        .iter()
        .all(|(n, _)| n != "rdb-key-save-delay"));
    assert_eq!(c.get_matching(&[b"rdb-key-save-delay"])[0].1, "5");
    let c = run(&["--key-load-delay", "7"]).unwrap();
    assert!(c
        .get_matching(&[b"*"])
        .iter()
        .all(|(n, _)| n != "key-load-delay"));
    assert_eq!(c.get_matching(&[b"key-load-delay"])[0].1, "7");
}

#[test]
fn a_master_s_replicaof_is_empty_and_cannot_be_configured() {
    let c = run(&[]).unwrap();
    // Redis's "CONFIG GET multiple args": both names, once each.
    let got = c.get_matching(&[b"*of"]);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["replicaof", "slaveof"]);
    assert!(got.iter().all(|(_, v)| v.is_empty()), "{got:?}");
    assert_eq!(
        c.set_many(&[("replicaof".into(), "127.0.0.1 6379".into())]),
        Err(SetError::Failed(
            "replicaof".into(),
            "can't set immutable config".into()
        ))
    );
    for name in ["--replicaof", "--slaveof"] {
        let e = run(&[name, "127.0.0.1", "6379"]).unwrap_err();
        assert!(
            format!("{e:?}").contains("does not replicate"),
            "{name}: {e:?}"
        );
    }
    assert!(!c.rewrite_text("").contains("replicaof"));
}

/// DEBUG CONFIG-REWRITE-FORCE-ALL writes every parameter, defaults too,
/// and the file it writes reads back to the same configuration (what
/// Redis's "CONFIG REWRITE sanity" test checks through a restart).
#[test]
fn a_forced_rewrite_writes_everything_and_reads_back_the_same() {
    let c = run(&["--maxclients", "77", "--save", "100 10"]).unwrap();
    let text = c.rewrite_text_with("", true);
    for d in all().filter(|d| d.get.is_some()) {
        // Aliases are written under their own names; a master's replicaof
        // is never written (as in Redis).
        if ALIASES.contains(&d.name) || inert::ALIASES.contains(&d.name) || d.name == "replicaof" {
            continue;
        }
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(d.name)),
            "{} missing from:\n{text}",
            d.name
        );
    }
    let dir = std::env::temp_dir().join(format!("flashkv-force-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("redis.conf");
    std::fs::write(&path, &text).unwrap();
    let back = run(&[path.to_str().unwrap()]).unwrap();
    assert_eq!(back.get_matching(&[b"*"]), c.get_matching(&[b"*"]));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `save` lines in a file add up as in Redis: a Redis 6 config's three
/// lines keep all three points (each line replaced the last: two of three
/// were lost); `save ""` clears; a bare `save` adds nothing; the command
/// line's `--save` comes after the file, as a further line.
#[test]
fn save_lines_in_a_file_add_up_as_in_redis() {
    let mut c = Config {
        save: REDIS_SAVE_POINTS.to_vec(),
        ..Config::default()
    };
    c.apply_text("save 900 1\nsave 300 10\nsave 60 10000\n")
        .unwrap();
    assert_eq!(c.save, vec![(900, 1), (300, 10), (60, 10000)]);
    c.apply_text("save 100 1\nsave\n").unwrap();
    assert_eq!(
        c.save,
        vec![(100, 1)],
        "a new file starts over; a bare save adds nothing"
    );
    c.apply_text("save 100 1\nsave \"\"\nsave 5 5\n").unwrap();
    assert_eq!(c.save, vec![(5, 5)]);
    c.apply_text("save\n").unwrap();
    assert!(
        c.save.is_empty(),
        "a bare save alone: no save points (Redis's CONFIG GET save is empty)"
    );
    let dir = std::env::temp_dir().join(format!("flashkv-save-lines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("redis.conf");
    std::fs::write(&path, "save 900 1\nsave 300 10\n").unwrap();
    let c = run(&[path.to_str().unwrap(), "--save", "60 10000"]).unwrap();
    assert_eq!(c.save, vec![(900, 1), (300, 10), (60, 10000)]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `shutdown-on-sigint` / `-sigterm` words as Redis 7.0.15 takes and
/// prints them (checked against redis-server).
#[test]
fn shutdown_on_signal_flags_read_and_print_as_in_redis() {
    let mut c = Config::default();
    let set = |c: &mut Config, v: &str| c.apply("shutdown-on-sigterm", &[v.to_string()]);
    let get = |c: &Config| c.get_matching(&[b"shutdown-on-sigterm"])[0].1.clone();
    assert_eq!(get(&c), "default");
    set(&mut c, "NOW Force").unwrap();
    assert_eq!(get(&c), "now force");
    set(&mut c, "nosave now").unwrap();
    assert_eq!(get(&c), "nosave now");
    assert_eq!(
        set(&mut c, "save nosave").unwrap_err(),
        "shutdown options SAVE and NOSAVE can't be used simultaneously"
    );
    for bad in ["bogus", ""] {
        assert_eq!(
            set(&mut c, bad).unwrap_err(),
            "argument(s) must be one of the following: default, save, nosave, now, force"
        );
    }
    assert_eq!(get(&c), "nosave now", "a refused value changes nothing");
    set(&mut c, "default").unwrap();
    assert_eq!(get(&c), "default");
}

/// Redis's command-line rules: the argument after a bare `--name` is its
/// value even when it starts with `--`; after a value, `--x` is the next
/// option; a `--save` without a value is `save ""`. Error texts as
/// redis-server prints them.
#[test]
fn command_line_values_and_errors_follow_redis() {
    let failure = |args: &[&str]| {
        let e = run(args).unwrap_err();
        (e.text, e.reason)
    };
    let wrong = "wrong number of arguments".to_string();
    assert_eq!(failure(&["--port"]), ("port".into(), wrong.clone()));
    assert_eq!(
        failure(&["--port", "--loglevel", "verbose"]),
        ("port \"--loglevel\" \"verbose\"".into(), wrong.clone())
    );
    let (text, reason) = failure(&["--port", "--bla", "--loglevel", "verbose"]);
    assert_eq!(text, "port \"--bla\"");
    assert!(
        reason.contains("couldn't be parsed into an integer"),
        "{reason}"
    );
    let (text, reason) = failure(&["--logfile", "--my--log--file", "--loglevel", "--bla"]);
    assert_eq!(text, "loglevel \"--bla\"");
    assert!(
        reason.starts_with("argument(s) must be one of the following"),
        "{reason}"
    );
    // Redis's multi-argument parameters take no value at all (their
    // setters decide); oom-score-adj-values needs one.
    assert!(run(&["--client-output-buffer-limit"]).is_ok());
    assert!(run(&["--latency-tracking-info-percentiles"]).is_ok());
    assert_eq!(failure(&["--oom-score-adj-values"]).1, wrong);
    let (_, reason) = failure(&["--shutdown-on-sigint"]);
    assert!(
        reason.starts_with("argument(s) must be one of the following"),
        "{reason}"
    );
    assert_eq!(
        failure(&["--replicaof", "127.0.0.1", "abc"]).1,
        "Invalid master port"
    );
    assert_eq!(
        failure(&["--nosuch", "1"]).1,
        "Bad directive or wrong number of arguments"
    );
    let c = run(&["--save", "--port", "7000"]).unwrap();
    assert!(c.save.is_empty() && c.port == 7000);
    assert!(run(&["--port 7001"]).is_ok_and(|c| c.port == 7001));
    // Values right after the file: a line of their own, not the end of
    // the file's last line ("wrong usage that we support anyway").
    let file = std::env::temp_dir().join(format!("flashkv-args-{}.conf", std::process::id()));
    std::fs::write(&file, "port 7002").unwrap();
    let path = file.display().to_string();
    let c = run(&[&path, "loglevel", "warning", "--maxmemory '700mb'"]).unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!((c.port, c.memory.maxmemory), (7002, 700 << 20));
    assert_eq!(c.get_matching(&[b"loglevel"])[0].1, "warning");
}
