//! Whether data written with one schema can be read with another, by the Avro specification's
//! resolution rules. That is apache-avro's `SchemaCompatibility::can_read`, but for one rule
//! it leaves out: an enum whose reader has a `default` reads any symbol it lacks as that
//! default (the specification's "Schema Resolution"; Java's `SchemaCompatibility`, which
//! Confluent's registry runs, agrees since Avro 1.9). apache-avro refuses such a pair, which
//! would make every symbol added to an enum with a default look like a breaking change.

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;
use serde_json::Value;

/// `Ok` when data written with `writer` resolves against `reader`.
pub fn can_read(writer: &Schema, reader: &Schema) -> Result<(), String> {
    let first = match SchemaCompatibility::can_read(writer, reader) {
        Ok(()) => return Ok(()),
        Err(e) => e.to_string(),
    };
    // Widen every defaulted reader enum by the symbols the writer's enum of that name adds,
    // then ask again: if that passes, those symbols were the only difference.
    let (Ok(w), Ok(mut r)) = (serde_json::to_value(writer), serde_json::to_value(reader)) else {
        return Err(first);
    };
    let mut writer_enums = Vec::new();
    collect_enums(&w, &mut writer_enums);
    if !widen_defaulted_enums(&mut r, &writer_enums) {
        return Err(first);
    }
    let widened = Schema::parse(&r).map_err(|_| first.clone())?;
    SchemaCompatibility::can_read(writer, &widened).map_err(|_| first)
}

/// `(name, symbols)` of every enum defined in `v`.
fn collect_enums<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a Vec<Value>)>) {
    match v {
        Value::Object(o) => {
            if let (Some("enum"), Some(Value::String(name)), Some(Value::Array(symbols))) = (
                o.get("type").and_then(Value::as_str),
                o.get("name"),
                o.get("symbols"),
            ) {
                out.push((name, symbols));
            }
            o.values().for_each(|x| collect_enums(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_enums(x, out)),
        _ => {}
    }
}

/// Appends to each reader enum with a default the writer symbols it lacks; true if any.
fn widen_defaulted_enums(v: &mut Value, writer_enums: &[(&str, &Vec<Value>)]) -> bool {
    let mut changed = false;
    match v {
        Value::Object(o) => {
            let is_enum = o.get("type").and_then(Value::as_str) == Some("enum");
            let name = o.get("name").and_then(Value::as_str).map(str::to_string);
            if let (true, true, Some(name)) = (is_enum, o.contains_key("default"), name) {
                let extra: Vec<Value> = writer_enums
                    .iter()
                    .filter(|(n, _)| short(n) == short(&name))
                    .flat_map(|(_, s)| s.iter())
                    .cloned()
                    .collect();
                if let Some(Value::Array(symbols)) = o.get_mut("symbols") {
                    for s in extra {
                        if !symbols.contains(&s) {
                            symbols.push(s);
                            changed = true;
                        }
                    }
                }
            }
            for x in o.values_mut() {
                changed |= widen_defaulted_enums(x, writer_enums);
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                changed |= widen_defaulted_enums(x, writer_enums);
            }
        }
        _ => {}
    }
    changed
}

/// A name without its namespace (resolution matches unqualified names).
fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(symbols: &str, default: &str) -> Schema {
        Schema::parse_str(&format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"e","type":{{"type":"enum","name":"E","symbols":[{symbols}]{default}}}}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn an_added_symbol_reads_as_the_default_only_when_there_is_one() {
        let old_with_default = schema(r#""a","z""#, r#","default":"z""#);
        let old_without = schema(r#""a","z""#, "");
        let new = schema(r#""a","z","b""#, r#","default":"z""#);
        assert!(can_read(&new, &old_with_default).is_ok());
        assert!(can_read(&old_with_default, &new).is_ok());
        assert!(can_read(&new, &old_without).is_err());
        let renamed = Schema::parse_str(
            r#"{"type":"record","name":"R","fields":[{"name":"e","type":"long"}]}"#,
        )
        .unwrap();
        assert!(can_read(&new, &renamed).is_err());
    }
}
