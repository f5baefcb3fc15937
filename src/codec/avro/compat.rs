//! Whether every datum written with one schema can be read with another, by the Avro
//! specification's resolution rules: apache-avro's `SchemaCompatibility::can_read` answering
//! `Full`. Since apache-avro 0.22 that includes the rule that an enum whose reader has a
//! `default` reads any symbol it lacks as that default (the specification's "Schema
//! Resolution"; Java's `SchemaCompatibility`, which Confluent's registry runs, agrees since
//! Avro 1.9). apache-avro's `Partial` (an enum without a default lacking some of the writer's
//! symbols, a union lacking branches: some data resolves, some does not) is not compatible
//! here, as it is not for a registry's FULL_TRANSITIVE check.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;

/// `Ok` when all data written with `writer` resolves against `reader`.
pub fn can_read(writer: &Schema, reader: &Schema) -> Result<(), String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Ok(()),
        Ok(Compatibility::Partial) => Err("only some data written with it can be read: an \
             enum without a default lacks symbols, or a union lacks branches"
            .into()),
        Err(e) => Err(e.to_string()),
    }
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
