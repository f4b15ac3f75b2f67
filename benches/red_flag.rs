//! The red-flag detector on one caller transcript (run: `cargo bench --bench red_flag`).
//!
//! It runs on every final caller transcript before anything else happens with it, so its cost is
//! paid on the call's hot path. Budget: under 50 µs for a 30-word utterance. Four 30-word
//! utterances: routine (nothing matches), an emergency found late, a negated look-alike full of
//! symptom words (the context rules all run), and Spanish; plus a 300-word run-on to show the cost
//! grows with length, not faster.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use voicegate::safety::red_flag::Detector;

const ROUTINE: &str = "hi yes good morning I was hoping to move my appointment with doctor okafor from \
                       tuesday to later in the week if she has anything open thursday or friday afternoon";
const EMERGENCY: &str = "I wanted to book a checkup for next week but um actually my husband is here and \
                         he just started slurring his words and his face looks droopy on one side";
const NEGATED: &str = "no chest pain no shortness of breath he didn't pass out and the bleeding stopped \
                       yesterday, the ER ruled out a stroke so we just need the follow up booked";
const SPANISH: &str = "buenos dias quería hacer una cita para mi mamá pero ahorita mismo dice que tiene un \
                       dolor muy fuerte en el pecho que le baja por el brazo izquierdo y suda";

fn detector(c: &mut Criterion) {
    let detector = Detector::builtin();
    for (name, text) in [
        ("routine", ROUTINE),
        ("emergency", EMERGENCY),
        ("negated", NEGATED),
        ("spanish", SPANISH),
    ] {
        let words = text.split_whitespace().count();
        assert!((29..=32).contains(&words), "{name} has {words} words");
        c.bench_function(&format!("red flag: assess a 30-word {name} utterance"), |b| {
            b.iter(|| black_box(detector.assess(black_box(text))))
        });
    }
    let long = [
        ROUTINE, NEGATED, SPANISH, ROUTINE, NEGATED, ROUTINE, NEGATED, SPANISH, ROUTINE, EMERGENCY,
    ]
    .join(". ");
    c.bench_function("red flag: assess a 300-word run-on", |b| {
        b.iter(|| black_box(detector.assess(black_box(&long))))
    });
}

criterion_group!(benches, detector);
criterion_main!(benches);
