//! Test guest `other-world`: a valid component that exports `example:greeter/greet`, not
//! livelab's evaluator. The host must refuse it with a message naming what it exports.

wit_bindgen::generate!({ path: "wit", world: "greeter" });

pub struct Greeter;

impl exports::example::greeter::greet::Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

export!(Greeter);
