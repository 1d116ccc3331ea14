//! The command line, split as redis-server's `main` splits it: the
//! config file, stdin (`-`), then `--name value...` options appended as
//! more lines.

use super::{quote, Config, ConfigError, Invocation, REDIS_SAVE_POINTS};
use crate::protocol::split_inline;

impl Config {
    /// Parse a command line (without the program name), reading the config
    /// file it names. `stdin` supplies the config when an argument is `-`.
    pub fn from_args(
        args: &[String],
        mut stdin: impl FnMut() -> std::io::Result<String>,
    ) -> Result<Invocation, ConfigError> {
        let mut text = String::new();
        let mut rest = args;
        match args.first().map(String::as_str) {
            Some("-h" | "--help") => return Ok(Invocation::Help),
            Some("-v" | "--version") => return Ok(Invocation::Version),
            Some(path) if !path.starts_with('-') => {
                text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    line: 0,
                    text: path.to_string(),
                    reason: format!("Fatal error, can't open config file '{path}': {e}"),
                })?;
                rest = &args[1..];
            }
            _ => {}
        }
        // Redis's rules (`main`): `--name` starts an option; the argument
        // after a bare `--name` is its value even if it starts with `--`
        // (`--port --bla` sets port to "--bla"); after a value, `--x`
        // starts the next option. A `--save` with no value is `save ""`.
        // The options form their own lines, after the file's and stdin's
        // (Redis appends them as one more block).
        let mut options = String::new();
        let mut after_value = true;
        for (j, arg) in rest.iter().enumerate() {
            if arg == "-" {
                let more = stdin().map_err(|e| ConfigError {
                    line: 0,
                    text: "-".into(),
                    reason: format!("can't read config from stdin: {e}"),
                })?;
                text.push('\n');
                text.push_str(&more);
            } else if let Some(name) = arg.strip_prefix("--").filter(|_| after_value) {
                options.push('\n');
                options.push_str(name);
                // "--port 6380" in one argument carries its value.
                after_value = split_inline(arg.as_bytes()).is_some_and(|w| w.len() > 1);
                let next_is_option = rest.get(j + 1).is_some_and(|n| n.starts_with("--"));
                let is_last = j + 1 == rest.len();
                if !after_value && name.eq_ignore_ascii_case("save") && (next_is_option || is_last)
                {
                    options.push_str(" \"\"");
                    after_value = true;
                }
            } else {
                // A value: quoted so spaces and quotes survive the split.
                // A value first (`flashkv conf loglevel verbose`) starts a
                // line of its own, as in Redis.
                options.push(' ');
                options.push_str(&quote(arg));
                after_value = true;
            }
        }
        if !options.starts_with('\n') {
            text.push('\n');
        }
        text.push_str(&options);
        // As redis-server: Redis's save points and the working directory
        // unless the configuration says otherwise. (`Config::default()`,
        // for embedding, saves nothing by itself.)
        let mut config = Config {
            save: REDIS_SAVE_POINTS.to_vec(),
            dir: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            ..Config::default()
        };
        config.apply_text(&text)?;
        Ok(Invocation::Run(Box::new(config)))
    }
}
