//! The documentation against what it documents:
//! - the flag reference in `docs/configuration.md` is generated from the command definition
//!   (`genesys_exporter::config::command()`); after a flag changes,
//!   `UPDATE_DOCS=1 cargo test --test docs` rewrites it between its two marker comments;
//! - the README stays a front door of at most 400 lines;
//! - every relative link in README.md, DEVELOPMENT.md and docs/*.md points to a file that
//!   exists and, with `#anchor`, to a heading of that file (GitHub's anchor style).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const BEGIN: &str = "<!-- BEGIN GENERATED FLAGS: UPDATE_DOCS=1 cargo test --test docs -->";
const END: &str = "<!-- END GENERATED FLAGS -->";
const CONFIGURATION: &str = "docs/configuration.md";
const README_MAX_LINES: usize = 400;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A table cell: one line, no unescaped `|`.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// One markdown table of a command's visible arguments: flag, default, help.
fn table(command: &clap::Command) -> String {
    let mut out = String::from("| flag | default | meaning |\n|---|---|---|\n");
    for arg in command.get_arguments() {
        if arg.is_hide_set() {
            continue;
        }
        let name = match (arg.get_long(), arg.get_short()) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(short)) => format!("-{short}"),
            (None, None) => arg.get_id().to_string().to_uppercase(),
        };
        let value = match arg.get_value_names() {
            Some(names) if arg.get_action().takes_values() => {
                let names: Vec<_> = names.iter().map(ToString::to_string).collect();
                format!("={}", names.join(" "))
            }
            _ => String::new(),
        };
        let mut default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| format!("`{}`", v.to_string_lossy()))
            .collect();
        if let Some(env) = arg.get_env() {
            default.push(format!("`${}`", env.to_string_lossy()));
        }
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{name}{value}` | {} | {} |\n",
            default.join(", "),
            cell(&help)
        ));
    }
    out
}

/// The generated reference: the exporter's flags, then each visible subcommand's.
fn flag_reference() -> String {
    let command = genesys_exporter::config::command();
    let mut out = table(&command);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        out.push_str(&format!("\n`{}`: {}\n\n", sub.get_name(), cell(&about)));
        out.push_str(&table(sub));
    }
    out
}

#[test]
fn the_flag_reference_is_generated_from_the_command() {
    let path = repo(CONFIGURATION);
    let doc = read(&path);
    let (before, rest) = doc
        .split_once(BEGIN)
        .unwrap_or_else(|| panic!("{CONFIGURATION}: no marker {BEGIN}"));
    let (current, after) = rest
        .split_once(END)
        .unwrap_or_else(|| panic!("{CONFIGURATION}: no marker {END}"));
    let generated = format!("\n{}", flag_reference());
    if current == generated {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{before}{BEGIN}{generated}{END}{after}"))
            .expect("write docs/configuration.md");
        return;
    }
    panic!(
        "{CONFIGURATION}: the flag reference differs from config::command(). \
         If intended: UPDATE_DOCS=1 cargo test --test docs\n--- generated:\n{generated}"
    );
}

#[test]
fn the_readme_is_a_front_door() {
    let lines = read(&repo("README.md")).lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, at most {README_MAX_LINES}: move the detail into docs/"
    );
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation other than `-` and
/// `_` dropped (as in tests/dashboard.rs).
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings (outside code blocks), numbered as GitHub does
/// when a heading repeats (`name`, `name-1`, ...).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let text = line.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        let base = anchor(text);
        let mut name = base.clone();
        let mut n = 0;
        while seen.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        seen.insert(name);
    }
    seen
}

/// Every `](target)` of a markdown file outside code blocks.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let mut files = vec![repo("README.md"), repo("DEVELOPMENT.md")];
    let mut docs: Vec<_> = std::fs::read_dir(repo("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_relative_link_points_to_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in documents() {
        let text = read(&file);
        let name = file
            .strip_prefix(repo(""))
            .unwrap_or(&file)
            .display()
            .to_string();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, fragment) = match link.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a directory").join(path)
            };
            if !target.exists() {
                broken.push(format!("{name}: {link}: no file {}", target.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                let is_markdown = target.extension().is_some_and(|e| e == "md");
                if !is_markdown || !anchors(&read(&target)).contains(fragment) {
                    broken.push(format!("{name}: {link}: no heading #{fragment}"));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} relative links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(
        anchor(" Running it in production"),
        "running-it-in-production"
    );
    assert_eq!(
        anchor(" TLS and authentication (`--web.config.file`)"),
        "tls-and-authentication---webconfigfile"
    );
    assert_eq!(
        anchors("# A\n```\n# not\n```\n## A\n"),
        BTreeSet::from(["a".to_string(), "a-1".to_string()])
    );
}
