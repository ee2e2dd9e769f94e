//! The module graph, read from the sources: no import cycle of any length, between files
//! (a module and its own ancestors excepted: a `mod.rs` or `lib.rs` and the modules under it)
//! and between folders (the top-level modules: `collect`, `metrics`, `genesys`, `org`, …,
//! with no exception); and `metrics`, the writer, is a leaf that names nothing of the rest.
//!
//! Each `.rs` file of the exporter's library (`src/`) and of the simulator's
//! (`crates/genesys-sim/src/`) is a module; a file refers to another when it names a path
//! that starts with `crate::`, `super::`, `self::` or a child module the file declares
//! (`mod queues;` then `queues::REGISTRATION`), in a `use` or inline, and resolves to that
//! file's module, the longest prefix of the path that is a module. The binaries' `main.rs`
//! are crates of their own and are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path inside its crate: `[]` for the crate root, `["metrics", "catalog"]`.
type ModPath = Vec<String>;

#[test]
fn no_two_modules_depend_on_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cycles = Vec::new();
    for src in [root.join("src"), root.join("crates/genesys-sim/src")] {
        cycles.extend(two_way_edges(root, &src));
    }
    assert!(
        cycles.is_empty(),
        "modules that depend on each other (move what both need so only one direction \
         remains):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn no_import_cycle_of_any_length_between_files_or_folders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for src in [root.join("src"), root.join("crates/genesys-sim/src")] {
        let (files, name) = read_crate(root, &src);
        let edges = edges(&files);
        for circle in circles(&without_ancestors(&edges)) {
            let names: Vec<String> = circle.iter().map(&name).collect();
            found.push(format!("files: {}", names.join(" -> ")));
        }
        for circle in circles(&folders(&edges)) {
            let names: Vec<String> = circle.iter().map(|f| format!("{f:?}")).collect();
            found.push(format!(
                "folders of {}: {}",
                src.display(),
                names.join(" -> ")
            ));
        }
    }
    assert!(
        found.is_empty(),
        "import cycles (move what the circle shares into a module all of them may use, or \
         let one side know the other through a trait it owns):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_writer_is_a_leaf_that_names_no_collector_and_no_client() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (files, name) = read_crate(root, &root.join("src"));
    let mut outside = Vec::new();
    for (from, targets) in &edges(&files) {
        if from.first().map(String::as_str) != Some("metrics") {
            continue;
        }
        for to in targets {
            if to.first().map(String::as_str) != Some("metrics") {
                outside.push(format!("{} -> {}", name(from), name(to)));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "src/metrics/ must know the rest only through its own traits:\n{}",
        outside.join("\n")
    );
}

#[test]
fn a_cycle_of_three_files_and_one_between_folders_are_found() {
    let files = BTreeMap::from([
        (vec![], "mod a; mod b; mod c; mod x; mod y;".to_string()),
        (m(&["a"]), "use crate::b::B;".to_string()),
        (m(&["b"]), "use crate::c::C;".to_string()),
        (m(&["c"]), "fn f() -> crate::a::A { todo!() }".to_string()),
        (m(&["x"]), "mod one; mod two;".to_string()),
        (m(&["x", "one"]), "use crate::y::Y;".to_string()),
        (m(&["x", "two"]), "pub struct Two;".to_string()),
        (m(&["y"]), "mod z;".to_string()),
        (m(&["y", "z"]), "use crate::x::two::Two;".to_string()),
    ]);
    let edges = edges(&files);
    assert_eq!(
        circles(&without_ancestors(&edges)),
        vec![vec![m(&["a"]), m(&["b"]), m(&["c"])]],
        "the three files; x::one -> y::z -> x::two is no circle of files"
    );
    assert_eq!(
        circles(&folders(&edges)),
        vec![
            vec![m(&["a"]), m(&["b"]), m(&["c"])],
            vec![m(&["x"]), m(&["y"])]
        ],
        "top-level files are folders of their own; and x and y are a circle of folders"
    );
}

#[test]
fn a_child_module_named_without_self_is_a_reference() {
    let refs: Vec<ModPath> = references(
        &m(&["collect"]),
        "mod queues; const R: u8 = queues::REGISTRATION; fn f() { other::g(); }",
    )
    .into_iter()
    .collect();
    assert_eq!(refs, vec![m(&["collect", "queues", "REGISTRATION"])]);
}

#[test]
fn a_cycle_between_two_files_is_found() {
    let files = BTreeMap::from([
        (vec![], "mod a; mod b;".to_string()),
        (m(&["a"]), "use crate::b::B; pub struct A;".to_string()),
        (m(&["b"]), "pub struct B(super::a::A);".to_string()),
        (m(&["c"]), "fn f() { crate::a::g(); }".to_string()),
    ]);
    let edges = edges(&files);
    assert_eq!(
        cycles(&edges, &|p| format!("{p:?}")),
        vec![r#"["a"] <-> ["b"]"#.to_string()]
    );
}

#[test]
fn a_module_and_its_ancestors_may_depend_on_each_other() {
    let files = BTreeMap::from([
        (
            vec![],
            "use x::y::Z; fn f() { crate::x::y::g() }".to_string(),
        ),
        (m(&["x"]), "use self::y::Z; use crate::W;".to_string()),
        (
            m(&["x", "y"]),
            "use super::super::W; use crate::{x::V, W as U};".to_string(),
        ),
    ]);
    assert!(cycles(&edges(&files), &|p| format!("{p:?}")).is_empty());
}

#[test]
fn strings_comments_and_nested_modules_are_read_as_rust() {
    let source = r##"
        // use crate::a::A;
        /* use crate::b::B; /* nested */ use crate::c::C; */
        const S: &str = "crate::d::D";
        const R: &str = r#"crate::e::E "quoted" "#;
        const C: char = '"';
        fn f<'a>(x: &'a str) -> char { 'x' }
        use crate::{f::{self, F}, g::G as H};
        mod tests {
            use super::super::h::H;
            fn t() { self::u(); }
        }
    "##;
    let mut refs: Vec<ModPath> = references(&m(&["z"]), source).into_iter().collect();
    refs.sort();
    assert_eq!(
        refs,
        vec![
            m(&["f"]),
            m(&["f", "F"]),
            m(&["g", "G"]),
            m(&["h", "H"]),
            m(&["z", "tests", "u"]),
        ]
    );
}

fn m(segments: &[&str]) -> ModPath {
    segments.iter().map(|s| (*s).to_string()).collect()
}

/// The pairs of files under `src` that refer to each other, as `a.rs <-> b.rs` lines.
fn two_way_edges(root: &Path, src: &Path) -> Vec<String> {
    let (files, name) = read_crate(root, src);
    cycles(&edges(&files), &name)
}

/// Every module of the crate under `src` (its `main.rs` left out) with its source, and how
/// to name a module by its file.
fn read_crate(root: &Path, src: &Path) -> (BTreeMap<ModPath, String>, impl Fn(&ModPath) -> String) {
    let mut files = BTreeMap::new();
    let mut paths = BTreeMap::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).expect("under src");
        if relative == Path::new("main.rs") {
            continue;
        }
        let module = module_path(relative);
        let text = std::fs::read_to_string(&file).expect("readable source");
        files.insert(module.clone(), text);
        paths.insert(module, file);
    }
    let root = root.to_path_buf();
    let name = move |module: &ModPath| {
        let file = &paths[module];
        file.strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string()
    };
    (files, name)
}

/// The edges less those between a module and its ancestors.
fn without_ancestors(
    edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    edges
        .iter()
        .map(|(a, targets)| {
            let kept = targets
                .iter()
                .filter(|b| !(a.starts_with(b) || b.starts_with(a)))
                .cloned()
                .collect();
            (a.clone(), kept)
        })
        .collect()
}

/// The edges between top-level modules (folders, and the files beside them): a module's
/// first segment; the crate root is left out (it only declares the modules).
fn folders(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut out: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (a, targets) in edges {
        let Some(from) = a.first() else { continue };
        let entry = out.entry(vec![from.clone()]).or_default();
        for b in targets {
            match b.first() {
                Some(to) if to != from => {
                    entry.insert(vec![to.clone()]);
                }
                _ => {}
            }
        }
    }
    out
}

/// Every circle: the strongly connected components of more than one module (Tarjan's
/// algorithm), each sorted, in order.
fn circles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a ModPath) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.out.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.out.sort();
    walk.out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// `lib.rs` is the crate root, `a/mod.rs` and `a.rs` are `a`, `a/b.rs` is `a::b`.
fn module_path(relative: &Path) -> ModPath {
    let mut segments: ModPath = relative
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = segments.pop().expect("a file name");
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        other => segments.push(other.trim_end_matches(".rs").to_string()),
    }
    segments
}

/// Which file modules each file module refers to (itself left out).
fn edges(files: &BTreeMap<ModPath, String>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    files
        .iter()
        .map(|(module, text)| {
            let targets = references(module, text)
                .into_iter()
                .map(|path| file_of(files, &path))
                .filter(|target| target != module)
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

/// The file module a path lands in: its longest prefix that is a file (a path inside an
/// inline module lands in the file that holds it).
fn file_of(files: &BTreeMap<ModPath, String>, path: &[String]) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| files.contains_key(prefix))
        .unwrap_or_default()
}

/// The pairs that refer to each other, neither an ancestor of the other.
fn cycles(
    edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
    name: &dyn Fn(&ModPath) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    for (a, targets) in edges {
        for b in targets {
            let back = edges.get(b).is_some_and(|t| t.contains(a));
            let related = a.starts_with(b) || b.starts_with(a);
            if back && !related && a < b {
                out.push(format!("{} <-> {}", name(a), name(b)));
            }
        }
    }
    out
}

/// Every `crate::`, `super::` and `self::` path in a file, made absolute (use trees expanded).
fn references(file_module: &ModPath, source: &str) -> BTreeSet<ModPath> {
    let tokens = tokens(source);
    let mut out = BTreeSet::new();
    // Inline modules (`mod tests { .. }`) open at a brace depth; paths inside are relative
    // to them.
    let mut module = file_module.clone();
    let mut opened: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    // `mod name;` at the top of the file: `name::Item` names the child without `self::`.
    let children: BTreeSet<&str> = tokens
        .windows(3)
        .filter(|w| w[0] == "mod" && w[2] == ";")
        .map(|w| w[1].as_str())
        .collect();
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            child
                if opened.is_empty()
                    && children.contains(child)
                    && tokens.get(i + 1).map(String::as_str) == Some("::")
                    && (i == 0 || !matches!(tokens[i - 1].as_str(), "::" | "$" | "mod")) =>
            {
                let mut prefix = vec!["self".to_string()];
                i = use_tree(&tokens, i, &module, &mut prefix, &mut out);
                continue;
            }
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if opened.last() == Some(&depth) {
                    opened.pop();
                    module.pop();
                }
            }
            "mod" if tokens.get(i + 2).map(String::as_str) == Some("{") => {
                module.push(tokens[i + 1].clone());
                opened.push(depth);
                depth += 1;
                i += 3;
                continue;
            }
            "crate" | "super" | "self"
                if tokens.get(i + 1).map(String::as_str) == Some("::")
                    && (i == 0 || !matches!(tokens[i - 1].as_str(), "::" | "$")) =>
            {
                i = use_tree(&tokens, i, &module, &mut Vec::new(), &mut out);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Reads a path (and its `{..}` groups) from `tokens[i]`, adding each complete path, made
/// absolute, to `out`; returns the index after it.
fn use_tree(
    tokens: &[String],
    mut i: usize,
    module: &ModPath,
    prefix: &mut ModPath,
    out: &mut BTreeSet<ModPath>,
) -> usize {
    let start = prefix.len();
    while let Some(token) = tokens.get(i) {
        match token.as_str() {
            "{" => {
                i += 1;
                loop {
                    match tokens.get(i).map(String::as_str) {
                        None => return i,
                        Some("}") => {
                            i += 1;
                            break;
                        }
                        Some(",") => i += 1,
                        Some(_) => i = use_tree(tokens, i, module, prefix, out),
                    }
                }
                prefix.truncate(start);
                return i;
            }
            "crate" if prefix.is_empty() => prefix.push("crate".to_string()),
            "self" if prefix.is_empty() => prefix.push("self".to_string()),
            "super" if prefix.iter().all(|s| s == "super") => prefix.push("super".to_string()),
            // `{self, Item}`: the prefix itself.
            "self" => {}
            t if is_ident(t) => prefix.push(t.to_string()),
            _ => break,
        }
        i += 1;
        if tokens.get(i).map(String::as_str) == Some("::") {
            i += 1;
        } else {
            break;
        }
    }
    if let Some(path) = absolute(module, prefix) {
        out.insert(path);
    }
    // `as Name` is not part of the path.
    if tokens.get(i).map(String::as_str) == Some("as") {
        i += 2;
    }
    prefix.truncate(start);
    i
}

fn absolute(module: &ModPath, path: &[String]) -> Option<ModPath> {
    let mut segments = path.iter().peekable();
    let mut base = match segments.next()?.as_str() {
        "crate" => Vec::new(),
        "self" => module.clone(),
        "super" => module[..module.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    while segments.peek().is_some_and(|s| *s == "super") {
        segments.next();
        base.pop()?;
    }
    base.extend(segments.cloned());
    Some(base)
}

fn is_ident(t: &str) -> bool {
    t.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters, without comments, string and char
/// literals or lifetimes.
fn tokens(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string(&chars, i) {
            i = end;
        } else if c == '"' || (c == 'b' && next == Some('"')) {
            i += if c == 'b' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && next == Some('\'')) {
            let at = if c == 'b' { i + 1 } else { i };
            if chars.get(at + 1) == Some(&'\\') {
                // An escaped char literal: to its closing quote.
                i = at + 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(at + 2) == Some(&'\'') {
                i = at + 3;
            } else {
                // A lifetime or a label.
                i = at + 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && next == Some(':') {
            out.push("::".to_string());
            i += 2;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// `r"..."`, `r#"..."#`, `br#"..."#` at `i`: the index after it.
fn raw_string(chars: &[char], i: usize) -> Option<usize> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && chars[j + 1..].iter().take_while(|c| **c == '#').count() >= hashes {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(j)
}
