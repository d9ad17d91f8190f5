//! The checked-in `schema.graphql` is what `bcgraph schema` prints.

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
