//! The module import graph of `stt-proto`, `stt-tokio` and `stt-cli`, read from the source, checked for
//! circles and compared with the tables in `docs/ARCHITECTURE.md`.
//!
//! A module imports another when its files name a path in it: `use crate::x::…`, `crate::x::…`
//! inside code, `super::sibling::…`, or an item the crate root re-exports from it. In `stt-proto`
//! a top-level module is one node (a directory module and its files together); inside a
//! directory, its files are nodes too, so two sibling files that import each other are found.
//! `cargo test -p stt-tests --test architecture -- --nocapture` prints the tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `src` (the `bin` folder excluded) and its module path.
fn modules(src: &Path) -> Vec<(PathBuf, Module)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().unwrap() != "bin" {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut m: Module = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if m.last().is_some_and(|l| l == "mod" || l == "lib") {
                m.pop();
            }
            (p, m)
        })
        .collect()
}

/// The source without comments and string literals.
fn code_of(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x' or '\n'); lifetimes ('a) are left alone.
            i += if b[i + 1] == b'\\' { 4 } else { 3 };
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Expands a `use` tree (`a::{b, c::d}`) into full paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn parse(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        if let Some(open) = s.find('{') {
            let head: Vec<String> =
                s[..open].split("::").map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect();
            let inner = &s[open + 1..s.rfind('}').unwrap()];
            let mut p = prefix.to_vec();
            p.extend(head);
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parse(&inner[start..i], &p, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            parse(&inner[start..], &p, out);
        } else {
            let s = s.split(" as ").next().unwrap();
            let mut p = prefix.to_vec();
            p.extend(s.split("::").map(str::trim).filter(|x| !x.is_empty()).map(String::from));
            out.push(p);
        }
    }
    let mut out = Vec::new();
    parse(tree, &[], &mut out);
    out
}

/// Every path a file names that starts with `crate`, `super` or `self`.
fn paths_of(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    // `use` trees first (they may be grouped), then inline paths in the remaining code.
    let mut without_uses = String::new();
    while let Some(pos) = find_use(rest) {
        without_uses.push_str(&rest[..pos.0]);
        let tree = &rest[pos.1..pos.2];
        out.extend(expand_use(tree).into_iter().filter(|p| matches!(p[0].as_str(), "crate" | "super" | "self")));
        rest = &rest[pos.2 + 1..];
    }
    without_uses.push_str(rest);
    let b = without_uses.as_bytes();
    let mut i = 0;
    while let Some(off) = without_uses[i..].find("crate::").or_else(|| without_uses[i..].find("super::")) {
        let start = i + off;
        let boundary =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_' || b[start - 1] == b':');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_' || b[end] == b':') {
            end += 1;
        }
        if boundary {
            out.push(without_uses[start..end].split("::").filter(|x| !x.is_empty()).map(String::from).collect());
        }
        i = end.max(start + 1);
    }
    out
}

/// The next `use` statement: (its start, the start of its tree, the position of its `;`).
fn find_use(code: &str) -> Option<(usize, usize, usize)> {
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(off) = code[from..].find("use ") {
        let start = from + off;
        let at_word = start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        if at_word {
            let semi = start + code[start..].find(';')?;
            return Some((start, start + 4, semi));
        }
        from = start + 4;
    }
    None
}

/// Resolves a path named in module `from` to the module it lands in.
fn resolve(
    path: &[String],
    from: &Module,
    known: &BTreeSet<Module>,
    root_items: &BTreeMap<String, Module>,
) -> Option<Module> {
    let mut base: Module = Vec::new();
    let mut segs = path.iter().peekable();
    match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segs.next();
        }
        Some("super") | Some("self") => {
            // A file's module path: `super` of `session/receive.rs` is `session`, and of
            // `session/mod.rs` (module `session`) the crate root.
            base = from.clone();
            while let Some(s) = segs.peek() {
                match s.as_str() {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segs.next();
            }
        }
        _ => return None,
    }
    let rest: Vec<&String> = segs.collect();
    let mut m = base;
    for s in &rest {
        let mut next = m.clone();
        next.push((*s).clone());
        if known.contains(&next) {
            m = next;
        } else {
            break;
        }
    }
    if m.is_empty() {
        // An item of the crate root: the module the root re-exports it from.
        return rest.first().and_then(|item| root_items.get(item.as_str()).cloned());
    }
    Some(m)
}

/// Edges between modules of the crate at `src`, keyed by file module.
fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mods = modules(src);
    let known: BTreeSet<Module> = mods.iter().map(|(_, m)| m.clone()).collect();
    // What the root re-exports: `pub use x::{A, B}` maps A and B to x.
    let lib = code_of(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut root_items = BTreeMap::new();
    let mut rest = lib.as_str();
    while let Some((_, t, semi)) = find_use(rest) {
        for p in expand_use(&rest[t..semi]) {
            if p.len() >= 2 && known.contains(&vec![p[0].clone()]) {
                root_items.insert(p.last().unwrap().clone(), vec![p[0].clone()]);
            }
        }
        rest = &rest[semi + 1..];
    }
    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (path, m) in &mods {
        let code = code_of(&std::fs::read_to_string(path).unwrap());
        let entry = g.entry(m.clone()).or_default();
        for p in paths_of(&code) {
            if let Some(t) = resolve(&p, m, &known, &root_items) {
                if &t != m {
                    entry.insert(t);
                }
            }
        }
    }
    g
}

/// Cycles of a graph (each as the list of its nodes), found by DFS.
fn cycles<N: Ord + Clone>(g: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    let mut found = BTreeSet::new();
    for start in g.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((n, path)) = stack.pop() {
            for next in g.get(&n).into_iter().flatten() {
                if next == start {
                    let mut c = path.clone();
                    c.sort();
                    found.insert(c);
                } else if !path.contains(next) && next > start {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    found.into_iter().collect()
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "(root)".into()
    } else {
        m.join("/")
    }
}

/// The top-level module graph of stt-proto: each directory module collapsed to one node.
fn top_level(g: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<String, BTreeSet<String>> {
    let mut t: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, targets) in g {
        let Some(top) = m.first() else { continue };
        let e = t.entry(top.clone()).or_default();
        for to in targets {
            if let Some(tt) = to.first() {
                if tt != top {
                    e.insert(tt.clone());
                }
            }
        }
    }
    t
}

/// File-to-file edges between sibling files of one directory (its mod.rs excluded).
fn sibling_edges(g: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut s: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, targets) in g {
        if m.len() < 2 {
            continue;
        }
        let e = s.entry(m.clone()).or_default();
        for t in targets {
            if t.len() == m.len() && t[..t.len() - 1] == m[..m.len() - 1] {
                e.insert(t.clone());
            }
        }
    }
    s
}

/// The rows of the table that follows `marker` in ARCHITECTURE.md: module -> imports.
fn documented(marker: &str) -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ARCHITECTURE.md")).unwrap();
    let start = doc.find(marker).unwrap_or_else(|| panic!("ARCHITECTURE.md has no {marker} table"));
    let mut rows = BTreeMap::new();
    for line in doc[start..].lines().skip(1) {
        let line = line.trim();
        if line.is_empty() && !rows.is_empty() {
            break;
        }
        if !line.starts_with('|') || line.starts_with("|---") || line.starts_with("| module") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let module = cells[0].trim_matches('`').to_string();
        let imports = cells[1]
            .split(',')
            .map(|s| s.trim().trim_matches('`').to_string())
            .filter(|s| !s.is_empty() && s != "—")
            .collect();
        rows.insert(module, imports);
    }
    rows
}

fn table(t: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut s = String::from("| module | imports |\n|---|---|\n");
    for (m, i) in t {
        let list: Vec<String> = i.iter().map(|x| format!("`{x}`")).collect();
        s.push_str(&format!("| `{m}` | {} |\n", if list.is_empty() { "—".into() } else { list.join(", ") }));
    }
    s
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name).join("src")
}

#[test]
fn stt_proto_has_no_import_circle_and_its_documented_graph_is_true() {
    let g = graph(&crate_src("stt-proto"));
    let top = top_level(&g);
    println!("stt-proto, top-level modules:\n{}", table(&top));
    let top_cycles = cycles(&top);
    assert!(top_cycles.is_empty(), "import circles between stt-proto modules: {top_cycles:?}");
    let siblings = sibling_edges(&g);
    let sibling_cycles = cycles(&siblings);
    println!(
        "sibling-file circles: {:?}",
        sibling_cycles.iter().map(|c| c.iter().map(name).collect::<Vec<_>>()).collect::<Vec<_>>()
    );
    assert!(
        sibling_cycles.len() <= 1 && sibling_cycles.iter().all(|c| c.len() == 2),
        "at most one pair of sibling files may import each other: {sibling_cycles:?}"
    );
    assert_eq!(
        documented("<!-- import graph: stt-proto -->"),
        top,
        "docs/ARCHITECTURE.md's stt-proto import table is out of date; the code's table is:\n{}",
        table(&top)
    );
}

/// Checks a crate whose files are each a node: no circle, and its table in ARCHITECTURE.md true.
fn file_graph_is_documented(name_in_doc: &str, dir: &str) {
    let g = graph(&crate_src(dir));
    let files: BTreeMap<String, BTreeSet<String>> = g
        .iter()
        .filter(|(m, _)| !m.is_empty())
        .map(|(m, t)| (name(m), t.iter().filter(|x| !x.is_empty()).map(name).collect()))
        .collect();
    println!("{name_in_doc}, modules:\n{}", table(&files));
    let c = cycles(&files);
    assert!(c.is_empty(), "import circles between {name_in_doc} modules: {c:?}");
    assert_eq!(
        documented(&format!("<!-- import graph: {name_in_doc} -->")),
        files,
        "docs/ARCHITECTURE.md's {name_in_doc} import table is out of date; the code's table is:\n{}",
        table(&files)
    );
}

#[test]
fn stt_tokio_has_no_import_circle_and_its_documented_graph_is_true() {
    file_graph_is_documented("stt-tokio", "stt-tokio");
}

#[test]
fn stt_cli_has_no_import_circle_and_its_documented_graph_is_true() {
    file_graph_is_documented("stt-cli", "stt-tokio/cli");
}

/// The driver is a driver: the tool's dependencies (command line, progress bars, configuration
/// file, JSON output, packet captures, log formatting) are `stt-cli`'s, never `stt-tokio`'s.
#[test]
fn the_tokio_driver_depends_on_nothing_only_the_tool_uses() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../stt-tokio/Cargo.toml")).unwrap();
    // The sections whose crates an application that depends on the driver compiles.
    let mut section = String::new();
    let mut normal = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if (section == "[dependencies]" || section.ends_with(".dependencies]") && !section.contains("dev-"))
            && !line.is_empty()
            && !line.starts_with('#')
        {
            normal.push(line.split(['=', ' ', '.']).next().unwrap().to_owned());
        }
    }
    assert!(normal.iter().any(|d| d == "tokio"), "the dependencies were not found: {normal:?}");
    for tool_only in ["clap", "indicatif", "serde", "toml", "serde_json", "pcap-file", "tracing-subscriber", "rustix"] {
        assert!(!normal.iter().any(|d| d == tool_only), "stt-tokio depends on {tool_only}, which only the tool uses");
    }
}

/// The text of the section of ARCHITECTURE.md under `heading`, up to the next `## `.
fn section(heading: &str) -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ARCHITECTURE.md")).unwrap();
    let start = doc.find(heading).unwrap_or_else(|| panic!("ARCHITECTURE.md has no section {heading:?}"));
    let body = &doc[start + heading.len()..];
    body[..body.find("\n## ").unwrap_or(body.len())].to_string()
}

/// The steps of a walk: each numbered item, and each paragraph, on its own.
fn steps(section: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in section.lines() {
        let numbered =
            line.split_once(". ").is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if line.trim().is_empty() || numbered {
            out.push(std::mem::take(&mut current));
        }
        current.push_str(line);
        current.push('\n');
    }
    out.push(current);
    out.retain(|s| !s.trim().is_empty());
    out
}

/// The spans between backticks in `text`.
fn cited(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `code` defines a function named `name`.
fn defines_fn(code: &str, name: &str) -> bool {
    code.match_indices(&format!("fn {name}")).any(|(i, m)| {
        let after = code[i + m.len()..].chars().next();
        after.is_some_and(|c| c == '(' || c == '<')
    })
}

/// Whether `code` names `word` as a whole word.
fn has_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        let part = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !part(before) && !part(after)
    })
}

/// Whether a word starts at `at` in `code` (no identifier character before it).
fn starts_word(code: &str, at: usize) -> bool {
    !code[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The word that follows `at` in `code`, after spaces.
fn word_after(code: &str, at: usize) -> &str {
    let rest = code[at..].trim_start();
    &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())]
}

/// Whether `code` defines a type, trait or constant named `name` (the word right after the
/// keyword), or imports it in a `use`.
fn defines_item(code: &str, name: &str) -> bool {
    ["struct ", "enum ", "trait ", "type ", "const ", "static "]
        .iter()
        .any(|k| code.match_indices(k).any(|(i, m)| starts_word(code, i) && word_after(code, i + m.len()) == name))
        || code.match_indices("use ").any(|(i, m)| has_word(code[i + m.len()..].split(';').next().unwrap(), name))
}

/// The bodies of `code`'s `impl` blocks for `ty` (`impl Ty`, `impl<'a> Ty<'a>`, `impl Trait for
/// Ty`), at the start of a line or indented (in an inline module), each up to the closing brace
/// at its own indentation.
fn impls_of<'a>(code: &'a str, ty: &str) -> Vec<&'a str> {
    code.match_indices("impl")
        .filter_map(|(i, _)| {
            let line_start = code[..i].rfind('\n')? + 1;
            let indent = &code[line_start..i];
            let after = code[i + 4..].chars().next();
            if !indent.chars().all(|c| c == ' ') || !matches!(after, Some(' ' | '<')) {
                return None;
            }
            let block = &code[i..];
            let header = &block[..block.find('{')?];
            let target = header.rsplit(" for ").next().unwrap();
            let close = format!("\n{indent}}}");
            let end = block.find(&close).map_or(block.len(), |e| e + close.len());
            has_word(target, ty).then(|| &block[..end])
        })
        .collect()
}

/// The body of `enum ty` in `code`, up to its closing brace at the start of a line.
fn enum_body<'a>(code: &'a str, ty: &str) -> Option<&'a str> {
    let start = code.match_indices("enum ").find(|(i, m)| word_after(code, i + m.len()) == ty)?.0;
    let body = &code[start..];
    Some(&body[..body.find("\n}").unwrap_or(body.len())])
}

/// Every function, type and file that the "Path of one datagram in" and "Path of one write out"
/// sections cite exists, and each function is in the file its step names. Moving or renaming one
/// without the document fails here.
#[test]
fn the_paths_in_and_out_cite_functions_where_they_are() {
    let src = crate_src("stt-proto");
    let read = |p: &Path| code_of(&std::fs::read_to_string(p).unwrap());
    let everything: String = modules(&src).iter().map(|(p, _)| read(p)).collect::<Vec<_>>().join("\n");
    let mut wrong = Vec::new();
    let mut checked = 0;
    for heading in ["## Path of one datagram in", "## Path of one write out"] {
        for step in steps(&section(heading)) {
            let spans = cited(&step);
            // The files this step names: a function it cites must be in one of them.
            let mut files = Vec::new();
            for s in spans.iter().filter(|s| s.ends_with(".rs") || s.ends_with('/')) {
                // A bare file name is a sibling of the file the step named before it.
                let beside = files.first().and_then(|f: &PathBuf| f.parent()).map(|d| d.join(s));
                let p = beside.filter(|p| !s.contains('/') && p.exists()).unwrap_or_else(|| src.join(s));
                if p.exists() {
                    if s.ends_with(".rs") {
                        files.push(p);
                    }
                } else {
                    wrong.push(format!("{heading}: `{s}` does not exist in stt-proto/src"));
                }
            }
            let here = if files.is_empty() { everything.clone() } else { files.iter().map(|p| read(p)).collect() };
            for span in &spans {
                let name = span.split('(').next().unwrap();
                let parts: Vec<&str> = name.split("::").collect();
                if !parts.iter().all(|p| is_ident(p)) || span.ends_with(".rs") {
                    continue;
                }
                checked += 1;
                let last = *parts.last().unwrap();
                let ok = match parts.as_slice() {
                    // `wire::parse_frame`: a function of a module.
                    [module, f] if module.starts_with(char::is_lowercase) => {
                        let dir = src.join(module);
                        let file = src.join(format!("{module}.rs"));
                        let code: String = modules(&src)
                            .iter()
                            .filter(|(p, _)| p.starts_with(&dir) || *p == file)
                            .map(|(p, _)| read(p))
                            .collect();
                        defines_fn(&code, f)
                    }
                    // `Type::Variant` in the enum's body; `Type::method` in an `impl` of the type in
                    // this step's files; `Type::field` (a step that names no file) in the type.
                    [ty, member] if member.starts_with(char::is_uppercase) => {
                        enum_body(&everything, ty).is_some_and(|body| has_word(body, member))
                    }
                    [ty, member] => {
                        impls_of(&here, ty).iter().any(|body| defines_fn(body, member))
                            || files.is_empty()
                                && everything.contains(&format!("pub {member}:"))
                                && defines_item(&everything, ty)
                    }
                    [f] if f.starts_with(char::is_lowercase) => defines_fn(&here, f),
                    // A type, or an enum's variant (a line that starts with it).
                    [item] => {
                        defines_item(&everything, item)
                            || everything.lines().any(|l| {
                                let rest = l.trim_start().strip_prefix(item);
                                rest.is_some_and(|r| r.is_empty() || r.starts_with([',', ' ', '(', '{']))
                            })
                    }
                    _ => has_word(&everything, last),
                };
                if !ok {
                    let whereabouts = if files.is_empty() {
                        "stt-proto".to_string()
                    } else {
                        files
                            .iter()
                            .map(|p| p.strip_prefix(&src).unwrap().display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    wrong.push(format!("{heading}: `{span}` is not in {whereabouts}"));
                }
            }
        }
    }
    println!("{checked} names checked");
    assert!(checked >= 25, "the sections cite only {checked} names: were they parsed?");
    assert!(wrong.is_empty(), "docs/ARCHITECTURE.md cites what the code does not have:\n{}", wrong.join("\n"));
}

/// The walk from the socket to the application's read (the tokio driver's section): every file it
/// names exists, the function each one-file row cites is defined in that file, no file is entered
/// more than twice, and the file count the text gives is the table's.
#[test]
fn the_walk_from_socket_to_read_is_true_and_its_file_count_checked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let doc = section("## The tokio driver (`stt-tokio`)");
    let start = doc.find("**From the socket to the application's read.**").expect("the walk is documented");
    let walk = &doc[start..];
    let mut entered: BTreeMap<String, usize> = BTreeMap::new();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for row in walk.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (files_cell, what) = (cells[2], cells[3]);
        // `stt-proto`: `a.rs`, `b.rs`: files of that crate; otherwise one path from the root.
        let spans = cited(files_cell);
        let files: Vec<PathBuf> = match spans.split_first() {
            Some((krate, rest)) if !krate.ends_with(".rs") => {
                rest.iter().map(|f| root.join(krate).join("src").join(f)).collect()
            }
            _ => spans.iter().map(|f| root.join(f)).collect(),
        };
        for f in &files {
            *entered.entry(f.strip_prefix(&root).unwrap().display().to_string()).or_default() += 1;
            if !f.exists() {
                wrong.push(format!("{} does not exist", f.display()));
            }
        }
        if let [file] = files.as_slice() {
            let code = code_of(&std::fs::read_to_string(file).unwrap_or_default());
            for span in cited(what) {
                let name = span.split('(').next().unwrap();
                let parts: Vec<&str> = name.split("::").collect();
                if !parts.iter().all(|p| is_ident(p)) || !parts.last().unwrap().starts_with(char::is_lowercase) {
                    continue;
                }
                checked += 1;
                let ok = match parts.as_slice() {
                    [ty, f] => impls_of(&code, ty).iter().any(|body| defines_fn(body, f)),
                    [f] => defines_fn(&code, f),
                    _ => false,
                };
                if !ok {
                    wrong.push(format!("`{span}` is not in {}", file.display()));
                }
            }
        }
    }
    assert!(checked >= 8, "the walk cites only {checked} functions: was it parsed?");
    assert!(wrong.is_empty(), "the walk from the socket to the read is wrong:\n{}", wrong.join("\n"));
    let twice: Vec<_> = entered.iter().filter(|(_, n)| **n > 2).collect();
    assert!(twice.is_empty(), "files entered more than twice: {twice:?}");
    let count = format!("\n{} files;", entered.len());
    assert!(walk.contains(&count), "the walk enters {} files; the text must say so ({count:?})", entered.len());
}
