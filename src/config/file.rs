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
    if last.contains("secret") && last != "client-secret-file" && last != "client-secret-env" {
        return Some(
            "secrets are not read from the config file; set GENESYS_CLIENT_SECRET or \
             genesys.client-secret-file (or name the variable in genesys.client-secret-env)",
        );
    }
    None
}

/// What the file says: settings as command-line arguments, and the orgs of `orgs:`.
#[derive(Debug, Default)]
pub(crate) struct FileConfig {
    /// The top-level settings: for one org, its settings; with `orgs:`, the defaults of
    /// every org and the process' own settings.
    pub(crate) args: Vec<OsString>,
    /// `orgs:` entries in order: each a name and its own settings over the top level's.
    pub(crate) orgs: Vec<FileOrg>,
    /// Every bad key (`ConfigError::FileKey`), top level first, keys in sorted order: the keys left out of
    /// `args` and `orgs`, all reported at once, as promtool does for rules.
    pub(crate) findings: Vec<ConfigError>,
}

/// One entry of `orgs:`.
#[derive(Debug)]
pub(crate) struct FileOrg {
    pub(crate) name: String,
    pub(crate) args: Vec<OsString>,
}

/// Settings of the process rather than of an org: refused in an `orgs:` entry.
fn process_wide(key: &str) -> bool {
    ["web.", "log."].iter().any(|p| key.starts_with(p)) || key == "orgs"
}

/// An org's name becomes the `org` label of its series and is named in log lines: short,
/// and plain enough to type into a PromQL matcher.
fn valid_org_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Reads the file and turns it into command-line arguments (`--key=value`), each checked
/// with its flag's own parser, so that an error names the key.
///
/// Bad keys are [`FileConfig::findings`]: an unknown or secret key, a value its flag refuses,
/// an `orgs:` entry without a valid or with a repeated name, or with a process-wide key.
///
/// # Errors
/// When the file cannot be read, is not YAML, or is not a map.
pub(crate) fn load(path: &Path) -> Result<FileConfig, ConfigError> {
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
    let mut map = match doc {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        _ => {
            return Err(ConfigError::File {
                path: shown,
                reason: "the top level must be a map of settings".into(),
            })
        }
    };
    let mut findings = Vec::new();
    // The top level's findings first, then the orgs'.
    let orgs = map.remove("orgs");
    let args = to_args(&shown, "", map, &mut findings);
    let orgs = match orgs {
        None => Vec::new(),
        Some(orgs) => load_orgs(&shown, orgs, &mut findings),
    };
    Ok(FileConfig {
        args,
        orgs,
        findings,
    })
}

/// The entries of `orgs:` with valid names; the others' faults go to `findings`.
fn load_orgs(
    shown: &str,
    orgs: serde_json::Value,
    findings: &mut Vec<ConfigError>,
) -> Vec<FileOrg> {
    let error = |key: String, reason: String| ConfigError::FileKey {
        path: shown.to_string(),
        key,
        reason,
    };
    let serde_json::Value::Array(entries) = orgs else {
        findings.push(error(
            "orgs".into(),
            "expected a list of orgs, each a map with a name".into(),
        ));
        return Vec::new();
    };
    if entries.is_empty() {
        findings.push(error("orgs".into(), "the list is empty".into()));
    }
    let mut out: Vec<FileOrg> = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let serde_json::Value::Object(mut map) = entry else {
            findings.push(error(
                format!("orgs[{i}]"),
                "expected a map with a name".into(),
            ));
            continue;
        };
        let name = match map.remove("name") {
            Some(serde_json::Value::String(name)) if valid_org_name(&name) => name,
            _ => {
                findings.push(error(
                    format!("orgs[{i}].name"),
                    "expected a name of letters, digits, '_', '-' or '.' (at most 64, starting with a letter or digit)".into(),
                ));
                continue;
            }
        };
        if out.iter().any(|o| o.name == name) {
            findings.push(error(
                format!("orgs[{i}].name"),
                format!("{name:?} is already the name of another org"),
            ));
            continue;
        }
        let args = to_args(shown, &format!("orgs[{i}] ({name}): "), map, findings);
        out.push(FileOrg { name, args });
    }
    out
}

/// One map of settings as flags; `context` goes before each key in findings, and a bad key
/// is a finding left out of the flags.
fn to_args(
    shown: &str,
    context: &str,
    map: serde_json::Map<String, serde_json::Value>,
    findings: &mut Vec<ConfigError>,
) -> Vec<OsString> {
    let mut pairs = Vec::new();
    flatten("", map, &mut pairs);
    let command = command();
    let mut args = Vec::new();
    for (key, value) in pairs {
        let key_error = |reason: String| ConfigError::FileKey {
            path: shown.to_string(),
            key: format!("{context}{key}"),
            reason,
        };
        match to_arg(&command, context.is_empty(), &key, value) {
            Ok(Some(arg)) => args.push(arg),
            Ok(None) => {}
            Err(reason) => findings.push(key_error(reason)),
        }
    }
    args
}

/// One setting as its flag (`None` for a `false` switch), or why it is wrong. `top_level`:
/// not inside an `orgs:` entry.
fn to_arg(
    command: &clap::Command,
    top_level: bool,
    key: &str,
    value: Result<String, String>,
) -> Result<Option<OsString>, String> {
    let normalized = key.replace('_', "-");
    if let Some(why) = forbidden(&normalized) {
        return Err(why.to_string());
    }
    if !top_level && process_wide(&normalized) {
        return Err(
            "a setting of the whole process, not of one org: set it at the top level".into(),
        );
    }
    let Some(arg) = command
        .get_arguments()
        .find(|a| a.get_long() == Some(normalized.as_str()))
    else {
        let mut reason =
            "unknown setting (keys are the flag names, e.g. collector.observations.interval)"
                .to_string();
        if let Some(near) = closest_key(command, top_level, &normalized) {
            reason.push_str(&format!("; a similar key exists: {near}"));
        }
        return Err(reason);
    };
    let value = value?;
    let arg_text = match arg.get_action() {
        ArgAction::SetTrue => match value.as_str() {
            "true" => format!("--{normalized}"),
            "false" => return Ok(None),
            _ => return Err(format!("{value:?} is not true or false")),
        },
        _ => format!("--{normalized}={value}"),
    };
    // The flag's own parser decides; its message says why.
    if let Err(e) = command
        .clone()
        .try_get_matches_from(["genesys-exporter", arg_text.as_str()])
    {
        return Err(clap_reason(&e));
    }
    super::check_setting(&normalized, &value)?;
    Ok(Some(OsString::from(arg_text)))
}

/// The known key nearest to `key` in edits, when it is near enough to be a slip of the
/// fingers rather than another setting: at most a third of the key's letters, and 3.
fn closest_key(command: &clap::Command, top_level: bool, key: &str) -> Option<String> {
    let allowed = (key.chars().count() / 3).clamp(1, 3);
    command
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .filter(|long| {
            forbidden(long).is_none()
                && !matches!(*long, "help" | "version")
                && (top_level || !process_wide(long))
        })
        .map(|long| (strsim::damerau_levenshtein(key, long), long))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, long)| long.to_string())
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
        let r = load_orgs_text_at(&path).map(|f| {
            f.args
                .into_iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect()
        });
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

    fn load_orgs_text(text: &str) -> Result<FileConfig, String> {
        let path = std::env::temp_dir().join(format!(
            "gx-config-orgs-{}-{}.yml",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, text).unwrap();
        let r = load_orgs_text_at(&path);
        std::fs::remove_file(&path).ok();
        r
    }

    /// The file at `path`, or its findings (or its fatal error), one a line.
    fn load_orgs_text_at(path: &Path) -> Result<FileConfig, String> {
        let file = load(path).map_err(|e| e.to_string())?;
        if file.findings.is_empty() {
            return Ok(file);
        }
        let lines: Vec<String> = file.findings.iter().map(ToString::to_string).collect();
        Err(lines.join("\n"))
    }

    #[test]
    fn each_org_gets_its_own_settings_under_its_name() {
        let file = load_orgs_text(
            "queues.include: '^Support'\norgs:\n  - name: acme\n    genesys:\n      region: mypurecloud.ie\n      client_id: abc\n  - name: globex\n    queues.include: '^Sales'\n",
        )
        .unwrap();
        assert_eq!(file.args, vec![OsString::from("--queues.include=^Support")]);
        let orgs: Vec<(&str, Vec<String>)> = file
            .orgs
            .iter()
            .map(|o| {
                let args = o.args.iter().map(|a| a.to_string_lossy().into_owned());
                (o.name.as_str(), args.collect())
            })
            .collect();
        assert_eq!(
            orgs,
            vec![
                (
                    "acme",
                    vec![
                        "--genesys.client-id=abc".to_string(),
                        "--genesys.region=mypurecloud.ie".to_string()
                    ]
                ),
                ("globex", vec!["--queues.include=^Sales".to_string()]),
            ]
        );
    }

    #[test]
    fn a_bad_org_entry_is_named() {
        for (text, says) in [
            ("orgs: acme\n", "expected a list of orgs"),
            ("orgs: []\n", "the list is empty"),
            ("orgs:\n  - genesys.client_id: x\n", "orgs[0].name"),
            ("orgs:\n  - name: 'a b'\n", "orgs[0].name"),
            (
                "orgs:\n  - name: a\n  - name: a\n",
                "already the name of another org",
            ),
            (
                "orgs:\n  - name: acme\n    web.listen-address: ':1'\n",
                "orgs[0] (acme): web.listen-address: a setting of the whole process",
            ),
            (
                "orgs:\n  - name: acme\n    log.level: debug\n",
                "a setting of the whole process",
            ),
            (
                "orgs:\n  - name: acme\n    genesys.client_secret: hunter2\n",
                "secrets are not read from the config file",
            ),
            (
                "orgs:\n  - name: acme\n    queues.include: '('\n",
                "orgs[0] (acme): queues.include: invalid value",
            ),
        ] {
            let err = load_orgs_text(text).unwrap_err();
            assert!(err.contains(says), "{text:?} -> {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn every_bad_key_of_a_file_is_a_finding_of_its_own() {
        let err = load_text(
            "queues.inclde: x\ngenesys.region: mars\naggregates.timezone: Mars/Olympus\nqueues.include: '^ok'\n",
        )
        .unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        for says in [
            ": queues.inclde: unknown setting",
            ": genesys.region: unknown Genesys Cloud region",
            ": aggregates.timezone: not an IANA time zone",
        ] {
            assert!(lines.iter().any(|l| l.contains(says)), "{says}: {err}");
        }
        assert!(lines.iter().all(|l| l.starts_with("config file ")), "{err}");
    }

    #[test]
    fn a_misspelled_key_gets_the_nearest_known_one() {
        let err = load_text("queues.inclde: x\n").unwrap_err();
        assert!(
            err.contains("a similar key exists: queues.include"),
            "{err}"
        );
        let err = load_text("collector_observations_intervall: 15s\n").unwrap_err();
        assert!(
            err.contains("a similar key exists: collector.observations.interval"),
            "{err}"
        );
        let err = load_text("nothing.like.any.key: 1\n").unwrap_err();
        assert!(!err.contains("similar"), "{err}");
        // A process-wide key is not offered inside an org.
        let err = load_orgs_text("orgs:\n  - name: a\n    log.levl: debug\n").unwrap_err();
        assert!(!err.contains("a similar key exists: log.level"), "{err}");
    }
}
