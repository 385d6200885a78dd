//! `docs/models.md` holds the parameter reference made from the registry: the document and
//! the code cannot disagree. `AISLE_UPDATE_DOCS=1 cargo test -p aisle-models --test docs`
//! rewrites it.

const BEGIN: &str = "<!-- parameters:begin (generated from the registry) -->\n";
const END: &str = "<!-- parameters:end -->";

#[test]
fn the_parameter_reference_in_the_docs_is_the_registrys() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/models.md");
    let text = std::fs::read_to_string(path).unwrap();
    let (start, end) = (
        text.find(BEGIN)
            .expect("docs/models.md has the begin marker")
            + BEGIN.len(),
        text.find(END).expect("docs/models.md has the end marker"),
    );
    let generated = format!("\n{}", aisle_models::registry::parameter_reference());
    if std::env::var_os("AISLE_UPDATE_DOCS").is_some() {
        let updated = format!("{}{generated}{}", &text[..start], &text[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    assert!(
        text[start..end] == generated,
        "docs/models.md's parameter reference is out of date; run \
         AISLE_UPDATE_DOCS=1 cargo test -p aisle-models --test docs"
    );
}
