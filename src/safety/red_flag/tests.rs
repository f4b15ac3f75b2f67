use super::*;

#[test]
fn builtin_tables_compile() {
    if let Err(e) = Detector::new(&[], &[]) {
        panic!("{e}");
    }
}
