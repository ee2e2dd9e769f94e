//! The metric catalog is the exporter's public interface: a golden list of it, and the metric
//! tables of docs/metrics.md, must change with it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use genesys_exporter::families;
use genesys_exporter::metrics::catalog::Family;
use genesys_exporter::metrics::Kind;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `name type unit labels`, one family a line, in scrape order.
fn listing(families: &[&Family]) -> String {
    families
        .iter()
        .map(|f| {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            format!(
                "{} {kind} {} {}\n",
                f.exposed_name(),
                f.unit.unwrap_or("-"),
                f.labels.join(",")
            )
        })
        .collect()
}

#[test]
fn the_catalog_matches_its_golden_list() {
    let path = repo("tests/golden/families.txt");
    let actual = listing(families::ALL);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).expect("golden written");
        return;
    }
    let golden = std::fs::read_to_string(&path).expect("tests/golden/families.txt");
    let (golden, actual): (BTreeSet<&str>, BTreeSet<&str>) =
        (golden.lines().collect(), actual.lines().collect());
    let added: Vec<_> = actual.difference(&golden).collect();
    let gone: Vec<_> = golden.difference(&actual).collect();
    assert!(
        added.is_empty() && gone.is_empty(),
        "the catalog changed: a public interface change. Not in the golden list: {added:#?}; \
         in the golden list only: {gone:#?}. If intended: UPDATE_GOLDEN=1 cargo test --test catalog"
    );
}

/// Every backquoted metric name that fills a whole cell of a table in `docs/metrics.md`.
fn documented_metric_names() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(repo("docs/metrics.md")).expect("docs/metrics.md");
    doc.lines()
        .filter(|l| l.starts_with('|'))
        .flat_map(|l| l.split('|'))
        .map(str::trim)
        .filter_map(|cell| cell.strip_prefix('`')?.strip_suffix('`'))
        .filter(|name| {
            (name.starts_with("genesys_") || name.starts_with("process_"))
                && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_documented_metric_tables_list_exactly_the_catalog() {
    let documented = documented_metric_names();
    let served: BTreeSet<String> = families::ALL.iter().map(|f| f.exposed_name()).collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/metrics.md tables: missing {undocumented:#?}; not served {unknown:#?}"
    );
}
