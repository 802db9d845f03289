//! Sorting the short lists the policy sorts on a request (an object's keys in the canonical
//! form, the keys the status annotation lists, names): an insertion sort. The standard library's
//! sorts are compiled anew, at the request path's optimization level, for every element type
//! and order they are used with, several KB each in the module; these lists hold tens of items
//! at most, where an insertion sort is as fast.

/// Sorts `items` in place by `less`, stably: of equal items, the first stays first.
pub fn sort_by<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0
            && matches!((items.get(j), items.get(j - 1)), (Some(this), Some(before)) if less(this, before))
        {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Sorts `items` in place in their order.
pub fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, |a, b| a < b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_as_the_standard_library_stably(items in proptest::collection::vec((0u8..8, any::<u16>()), 0..60)) {
            let mut ours = items.clone();
            sort_by(&mut ours, |a, b| a.0 < b.0);
            let mut theirs = items;
            theirs.sort_by_key(|item| item.0);
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn sorts_strings() {
        let mut names = vec!["b", "a", "c", "a"];
        sort(&mut names);
        assert_eq!(names, ["a", "a", "b", "c"]);
    }
}
