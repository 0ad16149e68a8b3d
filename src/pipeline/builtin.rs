pub struct Builtin {
    pub name: &'static str,
    pub description: &'static str,
}

pub fn list() -> Vec<Builtin> {
    Vec::new()
}
