//! The public API of `stt-proto`, listed from rustdoc's JSON output and compared with the
//! checked-in `stt-proto/public-api.txt`, so that every change to the public surface shows up in
//! review as a change to that file.
//!
//! Rustdoc's JSON output is unstable, so the test builds it with `RUSTC_BOOTSTRAP=1` (as
//! `cargo-semver-checks` does) in its own target directory. After an intended change:
//! `STT_BLESS=1 cargo test -p stt-tests --test public_api` rewrites the file.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

struct Doc<'a> {
    index: &'a serde_json::Map<String, Value>,
}

impl<'a> Doc<'a> {
    fn item(&self, id: &Value) -> Option<&'a Value> {
        self.index.get(&id.to_string())
    }

    /// Walks a module's public items, writing one line per item under `prefix`.
    fn module(&self, m: &Value, prefix: &str, out: &mut BTreeSet<String>, seen: &mut BTreeSet<String>) {
        for id in m["items"].as_array().into_iter().flatten() {
            let Some(item) = self.item(id) else { continue };
            if item["visibility"] != "public" {
                continue;
            }
            self.entry(item, item["name"].as_str(), prefix, out, seen);
        }
    }

    fn entry(
        &self,
        item: &Value,
        name: Option<&str>,
        prefix: &str,
        out: &mut BTreeSet<String>,
        seen: &mut BTreeSet<String>,
    ) {
        let (kind, inner) = item["inner"].as_object().and_then(|o| o.iter().next()).expect("an item has one kind");
        let path = match name {
            Some(n) => format!("{prefix}::{n}"),
            None => prefix.to_string(),
        };
        match kind.as_str() {
            "module" => {
                if seen.insert(path.clone()) {
                    out.insert(format!("mod {path}"));
                    self.module(inner, &path, out, seen);
                }
            }
            "use" => {
                // A re-export: list the target under this name (or, for a glob, its items here).
                let Some(target) = inner["id"].as_u64().and_then(|id| self.index.get(&id.to_string())) else {
                    out.insert(format!("pub use {path} = {}", inner["source"].as_str().unwrap_or("?")));
                    return;
                };
                if inner["is_glob"] == true {
                    if let Some(m) = target["inner"].get("module") {
                        self.module(m, prefix, out, seen);
                    }
                } else {
                    self.entry(target, inner["name"].as_str(), prefix, out, seen);
                }
            }
            "struct" => {
                out.insert(format!("struct {path}"));
                if let Some(fields) = inner["kind"].get("plain").and_then(|p| p["fields"].as_array()) {
                    for f in fields {
                        if let Some(fi) = self.item(f).filter(|fi| fi["visibility"] == "public") {
                            out.insert(format!(
                                "field {path}::{}: {}",
                                fi["name"].as_str().unwrap_or("?"),
                                ty(&fi["inner"]["struct_field"])
                            ));
                        }
                    }
                }
                self.impls(inner, &path, out);
            }
            "enum" => {
                out.insert(format!("enum {path}"));
                for v in inner["variants"].as_array().into_iter().flatten() {
                    if let Some(vi) = self.item(v) {
                        out.insert(format!("variant {path}::{}", vi["name"].as_str().unwrap_or("?")));
                    }
                }
                self.impls(inner, &path, out);
            }
            "trait" => {
                out.insert(format!("trait {path}"));
                for i in inner["items"].as_array().into_iter().flatten() {
                    if let Some(ti) = self.item(i) {
                        self.member(ti, &path, out);
                    }
                }
            }
            "function" => {
                out.insert(format!("fn {path}{}", sig(inner)));
            }
            "constant" => {
                out.insert(format!("const {path}: {}", ty(&inner["type"])));
            }
            "type_alias" => {
                out.insert(format!("type {path} = {}", ty(&inner["type"])));
            }
            other => {
                out.insert(format!("{other} {path}"));
            }
        }
    }

    /// Public methods and constants of inherent impls, and the traits implemented (by name).
    fn impls(&self, inner: &Value, path: &str, out: &mut BTreeSet<String>) {
        for id in inner["impls"].as_array().into_iter().flatten() {
            let Some(imp) = self.item(id).map(|i| &i["inner"]["impl"]) else { continue };
            if imp["is_synthetic"] == true || !imp["blanket_impl"].is_null() {
                continue;
            }
            match imp["trait"].as_object() {
                // Compiler-derived marker impls are noise in a review.
                Some(t) if t["path"] == "StructuralPartialEq" => {}
                Some(t) => {
                    out.insert(format!("impl {} for {path}", t["path"].as_str().unwrap_or("?")));
                }
                None => {
                    for i in imp["items"].as_array().into_iter().flatten() {
                        if let Some(mi) = self.item(i).filter(|mi| mi["visibility"] == "public") {
                            self.member(mi, path, out);
                        }
                    }
                }
            }
        }
    }

    fn member(&self, item: &Value, path: &str, out: &mut BTreeSet<String>) {
        let name = item["name"].as_str().unwrap_or("?");
        if let Some(f) = item["inner"].get("function") {
            out.insert(format!("fn {path}::{name}{}", sig(f)));
        } else if let Some(c) = item["inner"].get("assoc_const") {
            out.insert(format!("const {path}::{name}: {}", ty(&c["type"])));
        } else if item["inner"].get("assoc_type").is_some() {
            out.insert(format!("type {path}::{name}"));
        }
    }
}

/// A function's parameters and return type.
fn sig(f: &Value) -> String {
    let s = &f["sig"];
    let params: Vec<String> = s["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p[0].as_str().unwrap_or("_");
            let t = ty(&p[1]);
            if name == "self" {
                match t.as_str() {
                    "Self" => "self".into(),
                    "&Self" => "&self".into(),
                    "&mut Self" => "&mut self".into(),
                    _ => format!("self: {t}"),
                }
            } else {
                format!("{name}: {t}")
            }
        })
        .collect();
    let ret = if s["output"].is_null() { String::new() } else { format!(" -> {}", ty(&s["output"])) };
    format!("({}){ret}", params.join(", "))
}

/// A type, rendered the way it reads in source (generic arguments included).
fn ty(t: &Value) -> String {
    let Some((kind, v)) = t.as_object().and_then(|o| o.iter().next()) else { return "_".into() };
    match kind.as_str() {
        "primitive" => v.as_str().unwrap_or("_").into(),
        "generic" => v.as_str().unwrap_or("_").into(),
        "resolved_path" => {
            let name = v["path"].as_str().unwrap_or("_").rsplit("::").next().unwrap_or("_").to_string();
            match v["args"].get("angle_bracketed") {
                Some(a) => {
                    let args: Vec<String> = a["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|x| match x.as_object().and_then(|o| o.iter().next()) {
                            Some((k, t)) if k == "type" => ty(t),
                            Some((k, l)) if k == "lifetime" => l.as_str().unwrap_or("'_").into(),
                            Some((k, c)) if k == "const" => c["expr"].as_str().unwrap_or("_").into(),
                            _ => "_".into(),
                        })
                        .collect();
                    if args.is_empty() {
                        name
                    } else {
                        format!("{name}<{}>", args.join(", "))
                    }
                }
                None => name,
            }
        }
        "borrowed_ref" => {
            let m = if v["is_mutable"] == true { "mut " } else { "" };
            let l = v["lifetime"].as_str().map(|l| format!("{l} ")).unwrap_or_default();
            format!("&{l}{m}{}", ty(&v["type"]))
        }
        "slice" => format!("[{}]", ty(v)),
        "array" => format!("[{}; {}]", ty(&v["type"]), v["len"].as_str().unwrap_or("_")),
        "tuple" => format!("({})", v.as_array().into_iter().flatten().map(ty).collect::<Vec<_>>().join(", ")),
        "impl_trait" => {
            let bounds: Vec<String> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b.get("trait_bound"))
                .map(|b| b["trait"]["path"].as_str().unwrap_or("_").to_string())
                .collect();
            format!("impl {}", bounds.join(" + "))
        }
        "dyn_trait" => {
            let traits: Vec<String> = v["traits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["trait"]["path"].as_str().unwrap_or("_").to_string())
                .collect();
            format!("dyn {}", traits.join(" + "))
        }
        "qualified_path" => format!("{}::{}", ty(&v["self_type"]), v["name"].as_str().unwrap_or("_")),
        "function_pointer" => "fn(..)".into(),
        "raw_pointer" => format!("*{}", ty(&v["type"])),
        other => other.into(),
    }
}

#[test]
fn the_public_api_of_stt_proto_is_the_checked_in_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target").join("public-api");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUSTDOCFLAGS")
        .args(["rustdoc", "-q", "-p", "stt-proto", "--lib", "--target-dir"])
        .arg(&target)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "rustdoc JSON for stt-proto failed");
    let json: Value =
        serde_json::from_slice(&std::fs::read(target.join("doc").join("stt_proto.json")).unwrap()).unwrap();
    let doc = Doc { index: json["index"].as_object().unwrap() };
    let crate_root = doc.item(&json["root"]).unwrap();
    let mut items = BTreeSet::new();
    doc.module(&crate_root["inner"]["module"], "stt_proto", &mut items, &mut BTreeSet::new());
    let listing: String = items.iter().map(|l| format!("{l}\n")).collect();
    let file = root.join("stt-proto").join("public-api.txt");
    if std::env::var_os("STT_BLESS").is_some() {
        std::fs::write(&file, &listing).unwrap();
    }
    let recorded = std::fs::read_to_string(&file).unwrap_or_default();
    if recorded != listing {
        let old: BTreeSet<&str> = recorded.lines().collect();
        let new: BTreeSet<&str> = listing.lines().collect();
        let added: Vec<&&str> = new.difference(&old).collect();
        let removed: Vec<&&str> = old.difference(&new).collect();
        panic!(
            "stt-proto's public API changed; if on purpose, run STT_BLESS=1 cargo test -p stt-tests --test public_api \
             and commit stt-proto/public-api.txt.\nadded: {added:#?}\nremoved: {removed:#?}"
        );
    }
    assert!(items.len() > 100, "the listing found the API ({} items)", items.len());
}
