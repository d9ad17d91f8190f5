//! The checked-in `schema.graphql` is what `bcgraph schema` prints, and it parses.

#[test]
fn schema_graphql_is_current() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bcgraph"))
        .arg("schema")
        .output()
        .expect("run bcgraph schema");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("utf-8");
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    assert!(
        printed == checked_in,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

/// The SDL is valid GraphQL that tools can read back (an input type without fields,
/// which async-graphql prints for an action without parameters, is not).
#[test]
fn schema_graphql_parses_as_a_schema() {
    for (name, sdl) in [
        ("schema.graphql", include_str!("../../schema.graphql")),
        (
            "examples/guide/schema.graphql",
            include_str!("../../examples/guide/schema.graphql"),
        ),
    ] {
        if let Err(e) = async_graphql::parser::parse_schema(sdl) {
            panic!("{name} does not parse: {e}");
        }
    }
}
