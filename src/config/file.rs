//! `--config.file`: YAML whose keys are the flags' names, so there is one vocabulary to learn.
//! Nested maps are joined with dots, so these two files say the same:
//!
//! ```yaml
//! collector.observations.interval: 15s
//! queues.include: "^Support"
//! ```
//! ```yaml
//! collector:
//!   observations:
//!     interval: 15s
//! queues:
//!   include: "^Support"
//! ```
//!
//! Lists become comma-separated values (`aggregates.windows: [15m, today]`), `_` may stand for
//! `-` in key names. Secrets are refused: they come only from the environment or a secret file.
//! Flags given on the command line override the file.

use std::ffi::OsString;
use std::path::Path;

use clap::ArgAction;

use super::{command, ConfigError};

/// Keys that must never be in the file: secrets, and the file's own path.
fn forbidden(key: &str) -> Option<&'static str> {
    if key == "config.file" {
        return Some("the config file cannot name itself");
    }
    let last = key.rsplit('.').next().unwrap_or(key);
    if last.contains("secret") && last != "client-secret-file" {
        return Some(
            "secrets are not read from the config file; set GENESYS_CLIENT_SECRET or \
             genesys.client-secret-file",
        );
    }
    None
}

/// Reads the file and turns it into command-line arguments (`--key=value`), each checked
/// with its flag's own parser, so that an error names the key.
///
/// # Errors
/// When the file cannot be read, is not YAML, names an unknown or secret key, or a value its
/// flag refuses.
pub fn load(path: &Path) -> Result<Vec<OsString>, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let doc: serde_json::Value = if text.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_saphyr::from_str(&text).map_err(|e| ConfigError::File {
            path: shown.clone(),
            reason: e.to_string(),
        })?
    };
    let mut pairs = Vec::new();
    match doc {
        serde_json::Value::Object(map) => flatten("", map, &mut pairs),
        serde_json::Value::Null => {}
        _ => {
            return Err(ConfigError::File {
                path: shown,
                reason: "the top level must be a map of settings".into(),
            })
        }
    }
    let command = command();
    let mut args = Vec::new();
    for (key, value) in pairs {
        let key_error = |reason: String| ConfigError::FileKey {
            path: shown.clone(),
            key: key.clone(),
            reason,
        };
        let normalized = key.replace('_', "-");
        if let Some(why) = forbidden(&normalized) {
            return Err(key_error(why.to_string()));
        }
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(normalized.as_str()))
        else {
            return Err(key_error(
                "unknown setting (keys are the flag names, e.g. collector.observations.interval)"
                    .into(),
            ));
        };
        let value = value.map_err(key_error)?;
        let arg_text = match arg.get_action() {
            ArgAction::SetTrue => match value.as_str() {
                "true" => Some(format!("--{normalized}")),
                "false" => None,
                _ => return Err(key_error(format!("{value:?} is not true or false"))),
            },
            _ => Some(format!("--{normalized}={value}")),
        };
        let Some(arg_text) = arg_text else { continue };
        // The flag's own parser decides; its message says why.
        if let Err(e) =
            super::command().try_get_matches_from(["genesys-exporter", arg_text.as_str()])
        {
            return Err(key_error(clap_reason(&e)));
        }
        args.push(OsString::from(arg_text));
    }
    Ok(args)
}

/// Flattens nested maps into dotted keys; scalars and lists become flag values.
fn flatten(
    prefix: &str,
    map: serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<(String, Result<String, String>)>,
) {
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            serde_json::Value::Object(inner) => flatten(&key, inner, out),
            other => {
                let value = scalar(&other).or_else(|| match &other {
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(scalar)
                        .collect::<Option<Vec<_>>>()
                        .map(|v| v.join(",")),
                    _ => None,
                });
                out.push((
                    key,
                    value.ok_or_else(|| "expected a value or a list of values".into()),
                ));
            }
        }
    }
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first line of a clap error, without its `error: ` prefix and styling.
fn clap_reason(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.trim_start_matches("error: ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Vec<String>, String> {
        let path = std::env::temp_dir().join(format!(
            "gx-config-{}-{}.yml",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, text).unwrap();
        let r = load(&path)
            .map(|a| {
                a.into_iter()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect()
            })
            .map_err(|e| e.to_string());
        std::fs::remove_file(&path).ok();
        r
    }

    #[test]
    fn nested_and_dotted_keys_mean_the_same() {
        let nested = load_text(
            "collector:\n  observations:\n    interval: 20s\nqueues:\n  include: '^Support'\naggregates:\n  windows: [15m, today]\n",
        )
        .unwrap();
        let dotted = load_text(
            "collector.observations.interval: 20s\nqueues.include: '^Support'\naggregates.windows: [15m, today]\n",
        )
        .unwrap();
        assert_eq!(nested, dotted);
        assert!(nested.contains(&"--collector.observations.interval=20s".to_string()));
        assert!(nested.contains(&"--aggregates.windows=15m,today".to_string()));
    }

    #[test]
    fn booleans_numbers_and_underscores() {
        let mut args =
            load_text("no_collector.activity: true\ngenesys:\n  requests_per_minute: 120\n")
                .unwrap();
        args.sort();
        assert_eq!(
            args,
            vec![
                "--genesys.requests-per-minute=120",
                "--no-collector.activity"
            ]
        );
        assert_eq!(
            load_text("no-collector.activity: false\n").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(load_text("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn every_bad_value_names_its_key() {
        for (text, key, why) in [
            (
                "collector.observations.interval: soon\n",
                "collector.observations.interval",
                "invalid value",
            ),
            (
                "genesys:\n  client_secret: hunter2\n",
                "genesys.client_secret",
                "GENESYS_CLIENT_SECRET",
            ),
            ("queues.inclde: x\n", "queues.inclde", "unknown setting"),
            ("queues.include: '('\n", "queues.include", "invalid value"),
            (
                "genesys.requests-per-minute: 0\n",
                "genesys.requests-per-minute",
                "invalid value",
            ),
            ("demo: maybe\n", "demo", "not true or false"),
            (
                "queues:\n  include: {a: 1}\n",
                "queues.include.a",
                "unknown setting",
            ),
            (
                "aggregates.windows: [15m, {a: 1}]\n",
                "aggregates.windows",
                "expected a value",
            ),
        ] {
            let err = load_text(text).unwrap_err();
            assert!(
                err.contains(&format!("{key}:")) && err.contains(why),
                "{text:?} -> {err}"
            );
            assert!(
                !err.contains("hunter2"),
                "the secret value is not echoed: {err}"
            );
        }
        let err = load_text("- just\n- a list\n").unwrap_err();
        assert!(err.contains("top level must be a map"), "{err}");
        let err = load_text("a: [unclosed\n").unwrap_err();
        assert!(err.contains("config"), "{err}");
    }
}
