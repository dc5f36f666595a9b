//! What export refuses: merges, a missing base. (Binary changes are
//! written as git writes them: tests/binary.rs.)

mod common;

use common::TestRepo;

fn err_of(r: &TestRepo) -> String {
    match series_export::generate(&r.options(1, "PATCH", None)) {
        Ok(_) => panic!("export should have failed"),
        Err(e) => format!("{e:#}"),
    }
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
