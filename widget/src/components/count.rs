//! The live character count under a text box, counted as the network counts
//! (`shared::count`, the server's own code): one set of words for the Character Counter
//! and the Reply box.

use leptos::prelude::*;
use shared::Target;
use shared::count::Count;

/// `LENGTH / LIMIT`, and by how much a text is over its limit.
pub fn count_words(c: Count) -> String {
    if c.length > c.limit {
        format!(
            "{} / {} — over the limit by {}",
            c.length,
            c.limit,
            c.length - c.limit
        )
    } else {
        format!("{} / {}", c.length, c.limit)
    }
}

/// The count of `text` for `target`; `None` without a target.
pub fn count_for(target: Option<Target>, text: &str) -> Option<Count> {
    target.map(|t| shared::count::count(t, text))
}

/// Whether a count is over its limit (the text box is then marked invalid).
pub fn over(count: Option<Count>) -> bool {
    count.is_some_and(|c| c.length > c.limit)
}

/// The count line: empty while there is nothing to count against.
#[component]
pub fn CountLine(
    /// The element's id, for the text box's `aria-describedby`.
    id: &'static str,
    /// The text's count for where it is going.
    #[prop(into)]
    count: Signal<Option<Count>>,
    /// Where the text is going, named in the line when the box's label does not say it.
    #[prop(optional, into)]
    target: MaybeProp<Target>,
    /// Announce each change (where the count is the box's whole point).
    #[prop(optional)]
    live: bool,
) -> impl IntoView {
    let words = move || {
        let c = count.get()?;
        Some(match target.get() {
            Some(t) => format!("{}: {}", t.label(), count_words(c)),
            None => count_words(c),
        })
    };
    view! {
        <p
            id=id
            class="sc-count"
            class:sc-count--over=move || over(count.get())
            aria-live=live.then_some("polite")
        >
            {words}
        </p>
    }
}
