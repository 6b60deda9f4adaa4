// `sqlx::migrate!` and `#[sqlx::test(migrations = …)]` embed the SQL files at compile time;
// this makes a new or changed migration rebuild the crate (sqlx's documented build script).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
