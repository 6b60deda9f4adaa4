//! Properties of the pure threshold logic: crossing is monotone and additive over any split.

use alerts::{crossed, Threshold};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn amount() -> impl Strategy<Value = Decimal> {
    // Up to 10^12 with up to 6 decimal places, zero included.
    (0i64..1_000_000_000_000_000_000, 0u32..=6).prop_map(|(m, s)| Decimal::new(m, s + 6))
}

proptest! {
    #[test]
    fn crossing_a_to_c_is_a_to_b_plus_b_to_c(
        limit in amount(),
        mut points in proptest::collection::vec(amount(), 3),
    ) {
        points.sort();
        let (a, b, c) = (points[0], points[1], points[2]);
        let mut split = crossed(limit, a, b);
        let second = crossed(limit, b, c);
        prop_assert!(split.iter().all(|t| !second.contains(t)), "crossed twice");
        split.extend(second);
        prop_assert_eq!(crossed(limit, a, c), split);
    }

    #[test]
    fn a_threshold_is_crossed_exactly_when_its_level_lies_in_the_step(
        limit in amount(),
        before in amount(),
        after in amount(),
    ) {
        let got = crossed(limit, before, after);
        for t in Threshold::ALL {
            let level = limit * Decimal::new(i64::from(t.percent()), 2);
            let expected = after > Decimal::ZERO && after >= level
                && !(before > Decimal::ZERO && before >= level);
            prop_assert_eq!(got.contains(&t), expected, "{:?}", t);
        }
        prop_assert!(got.windows(2).all(|w| w[0] < w[1]));
        if after <= before {
            prop_assert!(got.is_empty());
        }
    }
}
