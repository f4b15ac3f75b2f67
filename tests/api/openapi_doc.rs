//! The review API's OpenAPI document (`src/http/review/openapi.yaml`, served at
//! `/review/api/openapi.yaml`) against the routes the server really registers.
//!
//! The routes are read from the router's own sources at test time: every `.route("/review/api/…",
//! …)` call in `src/startup.rs` and the review modules that merge their routers into it, with the
//! methods (`get(…)`, `post(…)`, …) of the same call. The document is parsed as YAML (with the
//! `config` crate's YAML reader, a dependency already). So a new endpoint without its entry, an
//! entry for a route that is gone, or YAML that silently means something else fails here.

use std::collections::BTreeSet;
use std::path::Path;

use config::{FileFormat, Source, Value, ValueKind};

/// The files whose `.route(` calls build the review API.
const ROUTE_SOURCES: [&str; 3] = [
    "src/startup.rs",
    "src/http/review/schedule.rs",
    "src/http/review/reports.rs",
];
const DOCUMENT: &str = "src/http/review/openapi.yaml";
/// Where the API lives; the document's `servers` URL, so its paths are relative to this.
const PREFIX: &str = "/review/api";
/// The document itself is served by the API but is not an operation in it.
const SELF: &str = "/review/api/openapi.yaml";
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

type Operation = (String, String);

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The text of a string literal starting at `at` (an opening quote), and the index after it.
fn string_literal(src: &str, at: usize) -> (String, usize) {
    let bytes = src.as_bytes();
    assert_eq!(bytes[at], b'"');
    let mut out = String::new();
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                out.push(char::from(bytes[i + 1]));
                i += 2;
            }
            b'"' => return (out, i + 1),
            _ => {
                let ch = src[i..].chars().next().expect("a char");
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    panic!("unterminated string literal at byte {at}");
}

/// The argument text of every `.route(` call outside a line comment, up to its closing paren.
fn route_calls(src: &str) -> Vec<&str> {
    let bytes = src.as_bytes();
    let mut calls = Vec::new();
    for (start, _) in src.match_indices(".route(") {
        let line_start = src[..start].rfind('\n').map_or(0, |n| n + 1);
        if src[line_start..start].contains("//") {
            continue;
        }
        let open = start + ".route(".len();
        let (mut depth, mut i) = (1_usize, open);
        while depth > 0 {
            match bytes.get(i) {
                Some(b'"') => {
                    i = string_literal(src, i).1;
                    continue;
                }
                Some(b'(') => depth += 1,
                Some(b')') => depth -= 1,
                Some(_) => {}
                None => panic!("unbalanced .route( call at byte {start}"),
            }
            i += 1;
        }
        calls.push(&src[open..i - 1]);
    }
    calls
}

/// The methods a route call's method router names (`get(h)`, `get(h).post(g)`, `routing::post(h)`).
fn methods_of(call: &str) -> Vec<String> {
    let mut found = Vec::new();
    for method in METHODS {
        let token = format!("{method}(");
        for (at, _) in call.match_indices(&token) {
            let before = call[..at].chars().next_back();
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                found.push(method.to_owned());
            }
        }
    }
    found
}

/// Every (method, path) the server registers under [`PREFIX`], the path relative to it, and how
/// many each source file gave.
fn registered_operations() -> (BTreeSet<Operation>, Vec<(&'static str, usize)>) {
    let mut ops = BTreeSet::new();
    let mut per_file = Vec::new();
    for file in ROUTE_SOURCES {
        let src = read(file);
        let mut n = 0;
        for call in route_calls(&src) {
            let Some(quote) = call.find('"') else { continue };
            if !call[..quote].trim().is_empty() {
                continue; // the path is a constant, not a literal: not a review API route
            }
            let (path, _) = string_literal(call, quote);
            if !path.starts_with(&format!("{PREFIX}/")) || path == SELF {
                continue;
            }
            let methods = methods_of(call);
            assert!(
                !methods.is_empty(),
                "{file}: no get(/post(/… found for {path:?}; teach this test its method router"
            );
            for method in methods {
                ops.insert((method, path[PREFIX.len()..].to_owned()));
                n += 1;
            }
        }
        per_file.push((file, n));
    }
    (ops, per_file)
}

fn table(value: Value, what: &str) -> config::Map<String, Value> {
    value
        .into_table()
        .unwrap_or_else(|e| panic!("{what} is not a mapping: {e}"))
}

/// The parsed document's top-level keys.
fn document() -> config::Map<String, Value> {
    config::File::from_str(&read(DOCUMENT), FileFormat::Yaml)
        .collect()
        .unwrap_or_else(|e| panic!("{DOCUMENT} is not valid YAML: {e}"))
}

/// Every (method, path) the document describes, after checking it is OpenAPI 3.0.3 served from
/// [`PREFIX`].
fn documented_operations() -> BTreeSet<Operation> {
    let mut doc = document();
    let version = doc.remove("openapi").map(|v| v.into_string());
    assert!(matches!(&version, Some(Ok(v)) if v == "3.0.3"), "openapi: {version:?}");
    let servers = doc
        .remove("servers")
        .expect("servers")
        .into_array()
        .expect("servers is a list");
    let urls: Vec<String> = servers
        .into_iter()
        .map(|s| {
            table(s, "a server")
                .remove("url")
                .expect("url")
                .into_string()
                .expect("url")
        })
        .collect();
    assert_eq!(urls, [PREFIX], "the document's paths are relative to its servers URL");
    let mut ops = BTreeSet::new();
    for (path, item) in table(doc.remove("paths").expect("paths"), "paths") {
        for key in table(item, &path).into_keys() {
            if METHODS.contains(&key.as_str()) {
                ops.insert((key, path.clone()));
            }
        }
    }
    ops
}

fn listed(ops: &BTreeSet<Operation>) -> String {
    ops.iter()
        .map(|(m, p)| format!("  {} {p}", m.to_uppercase()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_review_route_is_in_the_openapi_document() {
    let (registered, per_file) = registered_operations();
    for (file, n) in &per_file {
        assert!(
            *n > 0,
            "no /review/api routes read from {file}: is this test's parser broken?"
        );
    }
    assert!(registered.contains(&("post".into(), "/login".into())), "{registered:?}");
    let documented = documented_operations();
    let missing: BTreeSet<Operation> = registered.difference(&documented).cloned().collect();
    assert!(
        missing.is_empty(),
        "routes the server registers that {DOCUMENT} does not document:\n{}",
        listed(&missing)
    );
}

#[test]
fn every_documented_operation_is_a_review_route() {
    let (registered, _) = registered_operations();
    let stale: BTreeSet<Operation> = documented_operations().difference(&registered).cloned().collect();
    assert!(
        stale.is_empty(),
        "{DOCUMENT} documents operations the server does not have:\n{}",
        listed(&stale)
    );
}

/// An unquoted comma in a flow mapping (`{description: a, b}`) turns the rest of the text into
/// keys with no value: valid YAML that says something else. No value in the document is empty.
#[test]
fn the_openapi_document_has_no_empty_values() {
    fn empties(value: &Value, at: &str, out: &mut Vec<String>) {
        match &value.kind {
            ValueKind::Nil => out.push(at.to_owned()),
            ValueKind::Table(t) => {
                for (k, v) in t {
                    empties(v, &format!("{at}/{k}"), out);
                }
            }
            ValueKind::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    empties(v, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for (k, v) in document() {
        empties(&v, &k, &mut found);
    }
    found.sort();
    assert!(
        found.is_empty(),
        "empty values (quote text with commas or colons):\n  {}",
        found.join("\n  ")
    );
}
