//! A DLT's inflow of the last hours as a small bar chart the template draws as inline SVG: one
//! bar per hour, its height computed here, so the page needs no script and no inline style (the
//! CSP forbids both; colours are classes in `console.css`). A reader without sight gets the same
//! from the chart's `aria-label`, and each hour's count is a hover tooltip (an SVG `<title>`).

use rebound_ops::inflow::Inflow;

/// Height in pixels of the tallest bar.
const HEIGHT: u32 = 24;
/// Width of one bar, and the gap after it.
const BAR_WIDTH: u32 = 5;
const GAP: u32 = 1;

/// The chart as the template draws it.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    /// The SVG's width and height (the bars and the 1px baseline under them).
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Where the baseline is: bars stand on it.
    pub(crate) baseline_y: u32,
    pub(crate) bars: Vec<Bar>,
    /// What the chart says, for a screen reader (`aria-label`).
    pub(crate) label: String,
    /// Dead letters in the whole window, printed beside the chart.
    pub(crate) total: u64,
}

/// One hour of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bar {
    pub(crate) x: u32,
    /// The slot under the pointer is the hour's full column, so an empty hour has a tooltip too.
    pub(crate) slot_width: u32,
    pub(crate) width: u32,
    pub(crate) y: u32,
    /// 0 draws no bar (the baseline shows the hour was measured and empty).
    pub(crate) height: u32,
    /// The hover tooltip: the hour and its count.
    pub(crate) title: String,
}

impl Chart {
    /// The chart of `inflow` (hourly buckets).
    pub(crate) fn of(inflow: &Inflow) -> Chart {
        let heights = bar_heights(&inflow.counts, HEIGHT);
        let bars = inflow
            .counts
            .iter()
            .zip(heights)
            .enumerate()
            .map(|(i, (count, height))| Bar {
                x: i as u32 * (BAR_WIDTH + GAP),
                slot_width: BAR_WIDTH + GAP,
                width: BAR_WIDTH,
                y: HEIGHT - height,
                height,
                title: format!("{} UTC: {}", day_and_hour(inflow, i), dead_letters(*count)),
            })
            .collect();
        Chart {
            width: inflow.counts.len() as u32 * (BAR_WIDTH + GAP),
            height: HEIGHT + 1,
            baseline_y: HEIGHT,
            bars,
            label: label(inflow),
            total: inflow.total(),
        }
    }
}

/// Bar heights for `counts`, scaled so the largest is `max_height`. A count above zero is at
/// least 1px (one dead letter beside thousands still shows); zero is no bar.
pub(crate) fn bar_heights(counts: &[u64], max_height: u32) -> Vec<u32> {
    let most = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&count| {
            if count == 0 {
                return 0;
            }
            // Rounded to the nearest pixel; u128 so no count overflows the product.
            let scaled = (u128::from(count) * u128::from(max_height) + u128::from(most) / 2)
                / u128::from(most);
            (scaled as u32).max(1)
        })
        .collect()
}

/// "412 dead letters in the last 24 hours, most 180 at 14:00 UTC" (the latest of equal hours).
fn label(inflow: &Inflow) -> String {
    let hours = inflow.width.as_secs() * inflow.counts.len() as u64 / 3600;
    let window = format!("in the last {hours} hours");
    let busiest = inflow
        .counts
        .iter()
        .enumerate()
        .max_by_key(|(_, count)| **count)
        .filter(|(_, count)| **count > 0);
    match busiest {
        None => format!("No dead letters {window}"),
        Some((i, most)) => format!(
            "{} {window}, most {most} at {} UTC",
            dead_letters(inflow.total()),
            hour(inflow, i)
        ),
    }
}

fn dead_letters(count: u64) -> String {
    match count {
        1 => "1 dead letter".into(),
        n => format!("{n} dead letters"),
    }
}

/// `2026-12-01 14:00`: bucket `i`'s start (UTC).
fn day_and_hour(inflow: &Inflow, i: usize) -> String {
    let text = rebound_ops::describe::format_time(Some(inflow.bucket_start(i)));
    // RFC 3339 to the second: `2026-12-01T14:00:00Z`.
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(hour)) => format!("{day} {hour}"),
        _ => text,
    }
}

/// `14:00`: bucket `i`'s start (UTC).
fn hour(inflow: &Inflow, i: usize) -> String {
    let text = day_and_hour(inflow, i);
    text.get(11..).map_or(text.clone(), str::to_string)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rebound::EpochMillis;

    use super::*;

    #[test]
    fn bars_scale_by_the_largest_count() {
        // (counts, heights for a 24px chart)
        let rows: &[(&[u64], &[u32])] = &[
            (&[0, 180, 90, 45], &[0, 24, 12, 6]),
            (&[0, 0, 0], &[0, 0, 0]),
            (&[], &[]),
            (&[7], &[24]),
            // One beside thousands is still a pixel, not nothing.
            (&[1, 5000], &[1, 24]),
            // Rounded to the nearest pixel.
            (&[3, 2, 1], &[24, 16, 8]),
            (&[u64::MAX, u64::MAX / 2], &[24, 12]),
        ];
        for (counts, heights) in rows {
            assert_eq!(bar_heights(counts, 24), *heights, "{counts:?}");
        }
    }

    /// 2026-12-01T00:00:00Z.
    const DAY: i64 = 1_796_083_200_000;

    fn inflow(counts: Vec<u64>) -> Inflow {
        Inflow {
            start: EpochMillis::new(DAY),
            width: Duration::from_secs(3600),
            counts,
        }
    }

    #[test]
    fn the_chart_stands_its_bars_on_the_baseline() {
        let mut counts = vec![0; 24];
        counts[2] = 10;
        counts[14] = 180;
        let chart = Chart::of(&inflow(counts));
        assert_eq!((chart.width, chart.height, chart.baseline_y), (144, 25, 24));
        assert_eq!(chart.bars.len(), 24);
        let busiest = &chart.bars[14];
        assert_eq!((busiest.x, busiest.y, busiest.height), (84, 0, 24));
        assert_eq!(busiest.title, "2026-12-01 14:00 UTC: 180 dead letters");
        let small = &chart.bars[2];
        assert_eq!((small.y, small.height), (23, 1));
        assert_eq!(chart.bars[0].height, 0);
        assert_eq!(chart.bars[0].title, "2026-12-01 00:00 UTC: 0 dead letters");
        assert_eq!(chart.total, 190);
    }

    #[test]
    fn the_label_says_the_total_and_the_busiest_hour() {
        let mut counts = vec![0; 24];
        counts[3] = 180;
        counts[14] = 180;
        counts[20] = 52;
        assert_eq!(
            label(&inflow(counts)),
            "412 dead letters in the last 24 hours, most 180 at 14:00 UTC"
        );
        let mut one = vec![0; 24];
        one[23] = 1;
        assert_eq!(
            label(&inflow(one)),
            "1 dead letter in the last 24 hours, most 1 at 23:00 UTC"
        );
        assert_eq!(
            label(&inflow(vec![0; 24])),
            "No dead letters in the last 24 hours"
        );
    }
}
