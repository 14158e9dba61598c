//! Exports validate against containerlab's published JSON schema (draft-07), read from
//! `../shared/reference/containerlab/clab.schema.json` beside the repository.
#![allow(
    unused_crate_dependencies,
    reason = "the package's dependencies are not all this test's"
)]

use std::path::Path;

use mcastlab_topology::{LabSpec, containerlab::export};

#[test]
fn exports_validate_against_the_containerlab_schema() {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/containerlab/clab.schema.json");
    let Ok(schema) = std::fs::read_to_string(&schema_path) else {
        eprintln!(
            "SKIPPED: no containerlab schema at {}",
            schema_path.display()
        );
        return;
    };
    let schema: serde_json::Value = serde_json::from_str(&schema).expect("the schema is JSON");
    let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");

    let mut spec = LabSpec::generate("demo", 3, 2).unwrap();
    spec.nodes[0].pods[1].igmp_version = Some(2);
    spec.nodes[2].pods[0].napi = true;
    let mut dual = spec.clone();
    dual.ipv6 = true;
    dual.nodes[1].pods[0].mld_version = Some(1);
    let mut document = serde_json::Value::Null;
    for spec in [spec, dual] {
        // Through YAML, as containerlab reads it.
        let yaml = serde_norway::to_string(&export(&spec)).unwrap();
        document = serde_norway::from_str(&yaml).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "export (ipv6: {}) does not validate:\n{}",
            spec.ipv6,
            errors.join("\n")
        );
    }

    // And the validator does catch a broken file.
    let mut broken = document.clone();
    broken["topology"]["nodes"]["n1"]["kind"] = serde_json::json!("no-such-kind");
    assert!(
        !validator.is_valid(&broken),
        "an unknown kind must not validate"
    );
}
