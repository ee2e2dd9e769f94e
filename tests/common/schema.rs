//! A small JSON validator against the official Genesys definitions, shared by the simulator's
//! schema tests (HTTP answers and WebSocket frames).

use serde_json::{Map, Value};

/// The official definitions the simulator is checked against (copied into the fixture from
/// the shared OpenAPI subset; see `tests/sim_schema.rs`).
pub fn definitions() -> Map<String, Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/openapi-definitions.json"
    ))
    .expect("read the definitions fixture");
    match serde_json::from_str(&text).expect("parse the definitions fixture") {
        Value::Object(m) => m,
        _ => panic!("the definitions fixture is not an object"),
    }
}

/// Objects may only hold declared properties (or match `additionalProperties`), declared
/// types must match, `$ref`s are followed, and strings with an `enum` must be in it.
pub struct Validator {
    pub defs: Map<String, Value>,
    pub errors: Vec<String>,
}

impl Validator {
    pub fn new() -> Validator {
        Validator {
            defs: definitions(),
            errors: Vec::new(),
        }
    }

    pub fn check_def(&mut self, name: &str, value: &Value, path: &str) {
        let Some(schema) = self.defs.get(name).cloned() else {
            self.errors.push(format!("{path}: no definition {name}"));
            return;
        };
        self.check(&schema, value, path);
    }

    pub fn check(&mut self, schema: &Value, value: &Value, path: &str) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r).to_string();
            return self.check_def(&name, value, path);
        }
        let ty = schema.get("type").and_then(Value::as_str).or_else(|| {
            (schema.get("properties").is_some() || schema.get("additionalProperties").is_some())
                .then_some("object")
        });
        let ok = match ty {
            None => true,
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            Some(other) => {
                self.errors
                    .push(format!("{path}: unknown schema type {other}"));
                return;
            }
        };
        if !ok {
            self.errors.push(format!(
                "{path}: expected {}, got {value}",
                ty.unwrap_or("?")
            ));
            return;
        }
        if let (Some(allowed), Some(s)) =
            (schema.get("enum").and_then(Value::as_array), value.as_str())
        {
            if !allowed.iter().any(|a| a.as_str() == Some(s)) {
                self.errors
                    .push(format!("{path}: {s:?} is not in the enum"));
            }
        }
        match value {
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{path}[{i}]"));
                    }
                }
            }
            Value::Object(obj) => {
                let props = schema.get("properties").and_then(Value::as_object);
                let extra = schema.get("additionalProperties");
                for (k, v) in obj {
                    let sub = format!("{path}.{k}");
                    if let Some(p) = props.and_then(|p| p.get(k)) {
                        self.check(p, v, &sub);
                    } else if let Some(a) = extra {
                        if a.is_object() {
                            self.check(a, v, &sub);
                        } else if a == &Value::Bool(false) {
                            self.errors.push(format!("{sub}: not allowed"));
                        }
                    } else if props.is_some() {
                        self.errors.push(format!("{sub}: not declared"));
                    }
                }
            }
            _ => {}
        }
    }
}
