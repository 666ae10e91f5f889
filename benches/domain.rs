//! Cost of `domain::analyze` on a synthetic talk of a given length (default 60 s and 600 s):
//! a harmonic "voice" gliding in pitch, speech segments of 4 s with 0.6 s pauses, three words
//! a second from a Russian text with hedges, repeats, a false start and sentence ends (so the
//! word detectors have work), a filler every 25 words. The pitch track dominates; everything else is linear
//! in the number of words.
//!
//! Run: `cargo bench --no-default-features --bench domain` (optionally `-- 60 600 1800`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use speech_coach::domain::signal::{Span, SpeechMap};
use speech_coach::domain::transcript::{Segment, Transcript, Word};
use speech_coach::domain::{AnalysisConfig, AnalysisInput, analyze};

const SR: u32 = 16_000;

/// Words of a talk for the word detectors to chew on: a Russian text cycled with a stride so the
/// sequence does not repeat exactly, with hedges, repeats, a false start and sentence ends in it;
/// every 7th word is made unique so the vocabulary is not a 60-word loop.
fn talk_word(k: usize) -> String {
    const TEXT: &[&str] = &[
        "наверное,",
        "мы",
        "мы",
        "запустили",
        "новый",
        "проект",
        "в",
        "этом",
        "году.",
        "мне",
        "кажется,",
        "команда",
        "нового",
        "проекта",
        "работала",
        "очень",
        "быстро.",
        "мы",
        "хотели…",
        "мы",
        "решили",
        "начать",
        "с",
        "поиска",
        "и",
        "просто",
        "идеи",
        "клиентов.",
        "я",
        "думаю,",
        "что",
        "обратная",
        "связь",
        "помогла",
        "нам",
        "понять",
        "задачу",
        "и",
        "сделать",
        "поиск",
        "лучше.",
        "может",
        "быть,",
        "стоило",
        "начать",
        "с",
        "оплаты,",
        "но",
        "поиск",
        "был",
        "важнее",
        "для",
        "нашей",
        "службы",
        "поддержки",
        "и",
        "для",
        "клиентов",
        "этого",
        "проекта.",
    ];
    let w = TEXT[(k * 7) % TEXT.len()];
    if k.is_multiple_of(7) {
        format!("{}{k}", w.trim_end_matches([',', '.', '…']))
    } else {
        w.to_string()
    }
}

fn synth(seconds: f64) -> (Vec<f32>, SpeechMap, Transcript) {
    let n = (seconds * SR as f64) as usize;
    let mut phase = 0.0f64;
    let mut speech = Vec::new();
    let mut pauses = Vec::new();
    let mut t = 0.5;
    while t + 4.0 < seconds {
        speech.push(Span::new(t, t + 4.0));
        if t + 4.6 + 4.0 < seconds {
            pauses.push(Span::new(t + 4.0, t + 4.6));
        }
        t += 4.6;
    }
    let in_speech = |x: f64| speech.iter().any(|s| x >= s.start_sec && x < s.end_sec);
    let samples: Vec<f32> = (0..n)
        .map(|i| {
            let x = i as f64 / SR as f64;
            let f0 = 120.0 * 2f64.powf((x * 0.7).sin() / 3.0);
            phase += 2.0 * std::f64::consts::PI * f0 / SR as f64;
            if in_speech(x) {
                (0.3 * phase.sin() + 0.1 * (2.0 * phase).sin()) as f32
            } else {
                0.0
            }
        })
        .collect();
    let mut segments = Vec::new();
    let mut k = 0usize;
    for s in &speech {
        let words: Vec<Word> = (0..12)
            .map(|i| {
                k += 1;
                let start = s.start_sec + i as f64 / 3.0;
                Word {
                    word: if k.is_multiple_of(25) {
                        "ну,".into()
                    } else {
                        talk_word(k)
                    },
                    start_sec: start,
                    end_sec: start + 0.3,
                    probability: 0.9,
                }
            })
            .collect();
        segments.push(Segment {
            start_sec: s.start_sec,
            end_sec: s.end_sec,
            text: String::new(),
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            words,
        });
    }
    let map = SpeechMap {
        duration_sec: seconds,
        speech,
        pauses,
        ..Default::default()
    };
    let transcript = Transcript {
        language: "ru".into(),
        language_probability: 1.0,
        segments,
    };
    (samples, map, transcript)
}

fn main() {
    let lengths: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let lengths = if lengths.is_empty() {
        vec![60.0, 600.0]
    } else {
        lengths
    };
    let cfg = AnalysisConfig::default();
    println!("| audio length | words | runs | mean per run | per audio second |");
    println!("| --- | --- | --- | --- | --- |");
    for seconds in lengths {
        let (samples, map, transcript) = synth(seconds);
        let input = AnalysisInput {
            transcript: &transcript,
            speech: &map,
            samples: &samples,
            sample_rate: SR,
            language: "ru",
        };
        let words = analyze(&input, &cfg).metrics.words_total; // warm-up
        let mut runs = 0u32;
        let started = Instant::now();
        while runs < 3 || (started.elapsed() < Duration::from_secs(5) && runs < 50) {
            black_box(analyze(black_box(&input), &cfg));
            runs += 1;
        }
        let per_run = started.elapsed() / runs;
        println!(
            "| {seconds:.0} s | {words} | {runs} | {:.1} ms | {:.2} ms |",
            per_run.as_secs_f64() * 1e3,
            per_run.as_secs_f64() * 1e3 / seconds
        );
    }
}
