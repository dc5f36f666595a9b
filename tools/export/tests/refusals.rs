//! What export refuses: binary changes, merges, a missing base.

mod common;

use common::TestRepo;

fn err_of(r: &TestRepo) -> String {
    match series_export::generate(&r.options(1, "PATCH", None)) {
        Ok(_) => panic!("export should have failed"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn binary_change_is_refused() {
    let r = TestRepo::new();
    r.write("a.txt", "a\n");
    r.commit("base");
    r.mark_base();
    r.write("blob.bin", b"\x00\x01\x02binary");
    r.commit("add a binary file");
    let err = err_of(&r);
    assert!(err.contains("blob.bin is binary"), "{err}");
    assert!(err.contains("plain text"), "{err}");
}

#[test]
fn binary_attribute_is_refused() {
    let r = TestRepo::new();
    r.write(".gitattributes", "*.dat binary\n");
    r.commit("base");
    r.mark_base();
    r.write("x.dat", "text but marked binary\n");
    r.commit("add data");
    assert!(err_of(&r).contains("x.dat is binary"));
}

#[test]
fn merge_is_refused() {
    let r = TestRepo::new();
    r.write("a.txt", "a\n");
    r.commit("base");
    r.mark_base();
    r.git(&["checkout", "-q", "-b", "side"]);
    r.write("b.txt", "b\n");
    r.commit("side");
    r.git(&["checkout", "-q", "main"]);
    r.write("c.txt", "c\n");
    r.commit("main");
    r.git(&["merge", "-q", "--no-edit", "side"]);
    let err = err_of(&r);
    assert!(err.contains("is a merge"), "{err}");
}

#[test]
fn missing_base_explains_both_ways() {
    let r = TestRepo::new();
    r.write("a.txt", "a\n");
    r.commit("base");
    let err = err_of(&r);
    assert!(err.contains("--base"), "{err}");
    assert!(err.contains("refs/series/base"), "{err}");
    let mut opts = r.options(1, "PATCH", None);
    opts.base = Some("HEAD".into());
    let err = format!("{:#}", series_export::generate(&opts).unwrap_err());
    assert!(err.contains("no commits"), "{err}");
}

#[test]
fn explicit_base_overrides_the_ref() {
    let r = TestRepo::new();
    r.write("a.txt", "a\n");
    r.commit("first");
    r.mark_base();
    r.write("a.txt", "b\n");
    r.commit("second");
    r.write("a.txt", "c\n");
    r.commit("third");
    let mut opts = r.options(1, "PATCH", None);
    opts.base = Some("HEAD~1".into());
    let series = series_export::generate(&opts).unwrap();
    let names: Vec<&str> = series.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["0000-cover-letter.patch", "0001-third.patch"]);
}
