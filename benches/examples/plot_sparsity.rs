//! Latency against sparsity for MobileNetV1, drawn from the rounds `scripts/bench-sparsity.sh`
//! timed (through `scripts/bench-peers.sh`): one SVG with two panels, the latency of each runtime
//! (median over rounds of each round's median, with the min–max of the rounds as a bar) and its
//! speed-up over ONNX Runtime (median of the per-round ratios, which host drift between rounds
//! does not bias).
//!
//! Usage: `cargo run --release -p sprig-benches --example plot_sparsity -- DIR OUT.svg`, where DIR
//! holds `mnv1-dense.rounds.jsonl` and `mnv1-{S}x{B}.rounds.jsonl` (S = sparsity in percent,
//! B = block rows: 1 unstructured, 4 for 4x1 blocks). Missing files or runtimes are left out.
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use serde_json::Value;
use std::path::Path;

/// One runtime's results on one model: per-round median latencies (ms) and per-round
/// ORT / runtime ratios.
#[derive(Default)]
struct Cell {
    ms: Vec<f64>,
    vs_ort: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

/// The rounds of one model file, per runtime key (`ort`, `tract`, `deepsparse`, `ext` = sprig).
fn read_rounds(path: &Path, key: &str) -> Option<Cell> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut cell = Cell::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: not JSON lines: {e}", path.display()));
        let ms = &v["median_ms"];
        if let Some(t) = ms[key].as_f64() {
            cell.ms.push(t);
            if let Some(o) = ms["ort"].as_f64() {
                cell.vs_ort.push(o / t);
            }
        }
    }
    (!cell.ms.is_empty()).then_some(cell)
}

/// (sparsity %, median ms, min ms, max ms, median ORT / runtime)
type Point = (f64, f64, f64, f64, f64);

struct Series {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<Point>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        eprintln!("usage: plot_sparsity DIR OUT.svg   (DIR: the mnv1-*.rounds.jsonl of scripts/bench-sparsity.sh)");
        std::process::exit(2);
    }
    let (dir, out) = (Path::new(&args[0]), &args[1]);
    let sparsities = [0u32, 50, 70, 90, 95];
    let runtimes = [("ext", "sprig", RGBColor(200, 40, 40)), ("deepsparse", "DeepSparse", RGBColor(40, 110, 200)), ("ort", "ONNX Runtime", RGBColor(40, 150, 60)), ("tract", "tract", RGBColor(130, 130, 130))];
    let mut series = Vec::new();
    for (key, name, color) in runtimes {
        for (block, tag) in [(4u32, "4x1 blocks"), (1, "unstructured")] {
            let mut points = Vec::new();
            for s in sparsities {
                let file = if s == 0 { "mnv1-dense.rounds.jsonl".to_string() } else { format!("mnv1-{s}x{block}.rounds.jsonl") };
                if let Some(c) = read_rounds(&dir.join(file), key) {
                    let (lo, hi) = c.ms.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                    let r = if c.vs_ort.is_empty() { f64::NAN } else { median(&c.vs_ort) };
                    points.push((s as f64, median(&c.ms), lo, hi, r));
                }
            }
            // A dense runtime has one cost whatever the zeros: its unstructured line would only
            // repeat the 4x1 one, so it is drawn once (on the 4x1 models).
            let sparse_aware = matches!(key, "ext" | "deepsparse");
            if points.len() >= 2 && (sparse_aware || block == 4) {
                let label = if sparse_aware { format!("{name}, {tag}") } else { name.to_string() };
                series.push(Series { label, color, dashed: block == 1, points });
            }
        }
    }
    if series.is_empty() {
        eprintln!("no rounds found in {} (run scripts/bench-sparsity.sh first)", dir.display());
        std::process::exit(1);
    }
    let rounds = read_rounds(&dir.join("mnv1-dense.rounds.jsonl"), "ext").map_or(0, |c| c.ms.len());
    let ymax = series.iter().flat_map(|s| s.points.iter().map(|p| p.3)).fold(0.0, f64::max) * 1.1;
    let rmax = series.iter().flat_map(|s| s.points.iter().map(|p| p.4)).filter(|r| r.is_finite()).fold(1.0, f64::max) * 1.1;

    let root = SVGBackend::new(out, (1100, 460)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let title = format!("MobileNetV1 224x224, pointwise and classifier pruned, 1 thread ({rounds} rounds)");
    let root = root.titled(&title, ("sans-serif", 18)).unwrap();
    let (left, right) = root.split_horizontally(560);
    let panels = [(left, "latency, ms (median of rounds; bars: min–max)", ymax), (right, "speed-up over ONNX Runtime (median of per-round ratios)", rmax)];
    for (i, (area, ydesc, top)) in panels.into_iter().enumerate() {
        let get = |p: &Point| if i == 0 { p.1 } else { p.4 };
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-2f64..97f64, 0f64..top)
            .unwrap();
        chart
            .configure_mesh()
            .x_desc("sparsity of the pruned layers, %")
            .y_desc(ydesc)
            .x_labels(10)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(TRANSPARENT)
            .draw()
            .unwrap();
        for s in &series {
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, get(p))).filter(|p| p.1.is_finite()).collect();
            let style = s.color.stroke_width(2);
            let drawn = if s.dashed {
                chart.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style)).unwrap()
            } else {
                chart.draw_series(LineSeries::new(pts.clone(), style)).unwrap()
            };
            let (c, dashed) = (s.color, s.dashed);
            drawn.label(&s.label).legend(move |(x, y)| -> DynElement<'static, SVGBackend, (i32, i32)> {
                if dashed {
                    DashedPathElement::new(vec![(x, y), (x + 20, y)], 5, 3, c.stroke_width(2)).into_dyn()
                } else {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)).into_dyn()
                }
            });
            chart.draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, s.color.filled()))).unwrap();
            if i == 0 {
                chart.draw_series(s.points.iter().map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, s.color.stroke_width(1), 6))).unwrap();
            }
        }
        if i == 1 {
            // The line a runtime must be above to beat ONNX Runtime.
            chart.draw_series(LineSeries::new(vec![(-2.0, 1.0), (97.0, 1.0)], BLACK.mix(0.4))).unwrap();
            // One legend for both panels (same colours), where the speed-ups leave room.
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()
                .unwrap();
        }
    }
    root.present().unwrap();
    eprintln!("wrote {out}");
}
