//! Source filters of members: which sources' traffic to a group a member wants (RFC 3376
//! section 6, kept per member rather than per router interface).
//!
//! A member is one pod behind one veth (or one remote node), and an IGMPv3 host reports its
//! interface's whole filter for a group (RFC 3376 section 3.2: the merge of all its sockets), so
//! the dataplane can hold each member's filter exactly instead of the router-side merge of
//! section 6.4:
//!
//! - current-state and filter-mode-change records replace the filter: `IS_IN(B)` and `TO_IN(B)`
//!   make it `INCLUDE(B)`, `IS_EX(B)` and `TO_EX(B)` make it `EXCLUDE(B)` (the router's state for
//!   sources the host no longer lists would only age out after the Group Membership Interval);
//! - source-list-change records edit it: `ALLOW(B)` adds B to an INCLUDE list and removes it
//!   from an EXCLUDE list; `BLOCK(B)` removes B from an INCLUDE list and adds it to an EXCLUDE
//!   list.
//!
//! A member that is not subscribed starts from `INCLUDE{}`; a subscribed member without a filter
//! entry is `EXCLUDE{}` (any source: IGMPv1/v2 joins, userspace-added members). A record whose
//! result is `INCLUDE{}` is a leave. A list holds at most [`MAX_SOURCES_PER_MEMBER`] sources: a
//! record that would grow it past that makes the member `EXCLUDE{}` (every source, so nothing
//! it wants is lost; counted as [`crate::Reason::SourceListOverflow`]) and the rest of the
//! record is not read. Sources age with their member: a query's answer is a current-state
//! record, which replaces the filter, and a member not heard for the Group Membership Interval
//! goes with its filter.
//!
//! The eBPF programs feed a record's sources one at a time through [`RecordUpdate`] (they load
//! them from the packet in a loop) and test each packet's source with
//! [`SourceFilter::passes`]; userspace reads the filters to show them.

use crate::igmp::record;

/// Most sources one member's filter lists. A filter is 40 bytes, so a full map of
/// [`MAX_SOURCE_FILTERS`] entries is about 700 KiB with the hash map's overhead.
pub const MAX_SOURCES_PER_MEMBER: u32 = 8;

/// Most members with a source filter on a node (entries of the source map); a member that asks
/// for a filter past it gets every source ([`crate::Reason::SourceFiltersFull`]).
pub const MAX_SOURCE_FILTERS: u32 = 16384;

/// [`SourceFilter::mode`]: the member wants the listed sources only.
pub const MODE_INCLUDE: u32 = 1;
/// [`SourceFilter::mode`]: the member wants every source but the listed ones.
pub const MODE_EXCLUDE: u32 = 2;

/// Key of the source map: a group and one of its subscribers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceKey {
    /// The group address as a map key ([`crate::addr_key`]).
    pub group: u32,
    /// Always 0 (explicit padding for the 8-byte aligned subscriber).
    pub _pad: u32,
    /// The subscriber ([`crate::slots::Member::subscriber_key`]): a pod's veth, or a remote
    /// node's whole member word.
    pub subscriber: u64,
}

impl SourceKey {
    /// The key of `member`'s filter in `group`.
    pub const fn new(group: u32, member: crate::slots::Member) -> Self {
        Self {
            group,
            _pad: 0,
            subscriber: member.subscriber_key(),
        }
    }
}

/// One member's source filter: a mode and up to [`MAX_SOURCES_PER_MEMBER`] sources.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceFilter {
    /// [`MODE_INCLUDE`] or [`MODE_EXCLUDE`].
    pub mode: u32,
    /// How many of `sources` are in the list (the first `count`).
    pub count: u32,
    /// Source addresses as map keys ([`crate::addr_key`]); entries past `count` are 0.
    pub sources: [u32; MAX_SOURCES_PER_MEMBER as usize],
}

const _: () = assert!(core::mem::size_of::<SourceFilter>() == 40);
const _: () = assert!(core::mem::size_of::<SourceKey>() == 16);

impl SourceFilter {
    /// `EXCLUDE{}`: every source (a member without a filter entry).
    pub const ANY_SOURCE: Self = Self::empty(MODE_EXCLUDE);

    /// `INCLUDE{}`: no source (not a member).
    pub const NO_SOURCE: Self = Self::empty(MODE_INCLUDE);

    /// An empty list in `mode`.
    pub const fn empty(mode: u32) -> Self {
        Self {
            mode,
            count: 0,
            sources: [0; MAX_SOURCES_PER_MEMBER as usize],
        }
    }

    /// Whether the member wants the listed sources only.
    pub const fn is_include(&self) -> bool {
        self.mode == MODE_INCLUDE
    }

    /// Whether the filter lets every source through (`EXCLUDE{}`).
    pub const fn is_any_source(&self) -> bool {
        !self.is_include() && self.count == 0
    }

    /// Whether the filter lets nothing through (`INCLUDE{}`): the member wants nothing.
    pub const fn wants_nothing(&self) -> bool {
        self.is_include() && self.count == 0
    }

    /// The listed sources.
    pub fn listed(&self) -> &[u32] {
        &self.sources[..(self.count.min(MAX_SOURCES_PER_MEMBER)) as usize]
    }

    /// Whether `source` (a map key) is listed.
    #[inline(always)]
    pub fn contains(&self, source: u32) -> bool {
        let mut i = 0;
        while i < MAX_SOURCES_PER_MEMBER as usize {
            if (i as u32) < self.count && self.sources[i] == source {
                return true;
            }
            i += 1;
        }
        false
    }

    /// Whether a packet from `source` (a map key) goes to the member.
    #[inline(always)]
    pub fn passes(&self, source: u32) -> bool {
        self.contains(source) == self.is_include()
    }

    /// Lists `source` if it is not listed; returns `false` when the list is full.
    #[inline(always)]
    fn add(&mut self, source: u32) -> bool {
        if self.contains(source) {
            return true;
        }
        let at = self.count as usize;
        if at >= MAX_SOURCES_PER_MEMBER as usize {
            return false;
        }
        self.sources[at] = source;
        self.count += 1;
        true
    }

    /// Takes `source` off the list if it is listed (the last source moves into its place).
    #[inline(always)]
    fn remove(&mut self, source: u32) {
        let mut i = 0;
        while i < MAX_SOURCES_PER_MEMBER as usize {
            if (i as u32) < self.count && self.sources[i] == source {
                let last = (self.count - 1) as usize % MAX_SOURCES_PER_MEMBER as usize;
                self.sources[i] = self.sources[last];
                self.sources[last] = 0;
                self.count -= 1;
                return;
            }
            i += 1;
        }
    }
}

impl SourceFilter {
    /// A filter in `mode` listing `sources` (up to [`MAX_SOURCES_PER_MEMBER`]; `None` for more,
    /// or a mode that is neither [`MODE_INCLUDE`] nor [`MODE_EXCLUDE`]).
    pub fn new(mode: u32, sources: &[u32]) -> Option<Self> {
        if !(mode == MODE_INCLUDE || mode == MODE_EXCLUDE) {
            return None;
        }
        let mut filter = Self::empty(mode);
        for &source in sources {
            if !filter.add(source) {
                return None;
            }
        }
        Some(filter)
    }

    /// The filter of an interface whose members have filters `self` and `other`: the merge of
    /// RFC 3376 section 3.2, applied to a node's members to say what the node wants. Any member
    /// in EXCLUDE mode makes it EXCLUDE(the sources every EXCLUDE member refuses and no INCLUDE
    /// member asks for); only INCLUDE members make it INCLUDE(every source one asks for), or
    /// `EXCLUDE{}` when that is more than [`MAX_SOURCES_PER_MEMBER`] (every source, which loses
    /// nothing).
    pub fn merge(self, other: SourceFilter) -> SourceFilter {
        match (self.is_include(), other.is_include()) {
            (true, true) => {
                let mut union = self;
                for &source in other.listed() {
                    if !union.add(source) {
                        return Self::ANY_SOURCE;
                    }
                }
                union
            }
            (false, false) => {
                let mut both = Self::ANY_SOURCE;
                for &source in self.listed() {
                    if other.contains(source) {
                        both.add(source);
                    }
                }
                both
            }
            (true, false) => other.without(&self),
            (false, true) => self.without(&other),
        }
    }

    /// `self` (EXCLUDE mode) without the sources `include` lists.
    fn without(mut self, include: &SourceFilter) -> SourceFilter {
        for &source in include.listed() {
            self.remove(source);
        }
        self
    }
}

/// What each source of a record does to the filter being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The source joins the list.
    Add,
    /// The source leaves the list.
    Remove,
}

/// One record applied to one member's filter: made by [`RecordUpdate::begin`], fed the record's
/// sources in order with [`RecordUpdate::source`], read with [`RecordUpdate::filter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordUpdate {
    filter: SourceFilter,
    step: Step,
    /// Non-zero once the list overflowed. A `u32`, not a `bool`: the eBPF verifier must see a
    /// comparison (a callback's result in [0, 1]), not a byte LLVM assumes is 0 or 1.
    overflowed: u32,
    /// A source-list-change record (`ALLOW`, `BLOCK`) for a member that is not subscribed.
    change_of_non_member: bool,
}

impl RecordUpdate {
    /// Starts applying a record of `record_type` to a member whose filter is `current`
    /// ([`SourceFilter::NO_SOURCE`] for a member that is not subscribed), or `None` for a record
    /// type that changes nothing (RFC 3376 section 4.2.12 defines types 1 to 6).
    #[inline(always)]
    pub fn begin(record_type: u8, current: SourceFilter) -> Option<Self> {
        let mut update = Self {
            filter: current,
            step: Step::Add,
            overflowed: 0,
            change_of_non_member: false,
        };
        update.restart(record_type).then_some(update)
    }

    /// [`RecordUpdate::begin`] in place, for the eBPF side (which keeps the update in a map
    /// value, off its stack): the member's current filter is already in
    /// [`RecordUpdate::filter_mut`]. Returns `false` for a record type that changes nothing.
    #[inline(always)]
    pub fn restart(&mut self, record_type: u8) -> bool {
        let current_is_include = self.filter.is_include();
        let step = match record_type {
            record::MODE_IS_INCLUDE | record::CHANGE_TO_INCLUDE_MODE => {
                self.filter = SourceFilter::NO_SOURCE;
                Step::Add
            }
            record::MODE_IS_EXCLUDE | record::CHANGE_TO_EXCLUDE_MODE => {
                self.filter = SourceFilter::ANY_SOURCE;
                Step::Add
            }
            record::ALLOW_NEW_SOURCES if current_is_include => Step::Add,
            record::ALLOW_NEW_SOURCES => Step::Remove,
            record::BLOCK_OLD_SOURCES if current_is_include => Step::Remove,
            record::BLOCK_OLD_SOURCES => Step::Add,
            _ => return false,
        };
        let change = matches!(
            record_type,
            record::ALLOW_NEW_SOURCES | record::BLOCK_OLD_SOURCES
        );
        self.change_of_non_member = change && self.filter.wants_nothing();
        self.step = step;
        self.overflowed = 0;
        true
    }

    /// The filter being built, to write the member's current filter into before
    /// [`RecordUpdate::restart`].
    #[inline(always)]
    pub fn filter_mut(&mut self) -> &mut SourceFilter {
        &mut self.filter
    }

    /// The filter being built, in place.
    #[inline(always)]
    pub fn filter_ref(&self) -> &SourceFilter {
        &self.filter
    }

    /// Applies the record's next source (a map key). After an overflow the filter stays
    /// `EXCLUDE{}` and further sources change nothing.
    #[inline(always)]
    pub fn source(&mut self, source: u32) {
        if self.overflowed() {
            return;
        }
        match self.step {
            Step::Add => {
                if !self.filter.add(source) {
                    self.filter = SourceFilter::ANY_SOURCE;
                    self.overflowed = 1;
                }
            }
            Step::Remove => self.filter.remove(source),
        }
    }

    /// The member's filter after the sources fed so far.
    pub const fn filter(&self) -> SourceFilter {
        self.filter
    }

    /// Whether the record changes nothing: a source-list change that leaves a member that is
    /// not subscribed unsubscribed (`BLOCK` of anything, `ALLOW{}`). Other records whose filter
    /// wants nothing are leaves.
    pub const fn has_no_effect(&self) -> bool {
        self.change_of_non_member && self.filter.wants_nothing()
    }

    /// Whether the list outgrew [`MAX_SOURCES_PER_MEMBER`] (the filter is then `EXCLUDE{}`).
    pub const fn overflowed(&self) -> bool {
        self.overflowed != 0
    }
}

#[cfg(feature = "user")]
// SAFETY: `#[repr(C)]` structs of integers without implicit padding (sizes pinned above).
unsafe impl aya::Pod for SourceFilter {}

#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for SourceKey {}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::net::Ipv4Addr;
    use std::{vec, vec::Vec};

    use super::*;
    use crate::addr_key;

    const S1: u32 = addr_key(Ipv4Addr::new(10, 200, 1, 1));
    const S2: u32 = addr_key(Ipv4Addr::new(10, 200, 1, 2));
    const S3: u32 = addr_key(Ipv4Addr::new(10, 200, 1, 3));

    /// The filter after applying a record of `record_type` with `sources` to `current`.
    fn apply(record_type: u8, current: SourceFilter, sources: &[u32]) -> SourceFilter {
        let mut update = RecordUpdate::begin(record_type, current).expect("a known record type");
        for &source in sources {
            update.source(source);
        }
        update.filter()
    }

    fn include(sources: &[u32]) -> SourceFilter {
        apply(record::MODE_IS_INCLUDE, SourceFilter::NO_SOURCE, sources)
    }

    fn exclude(sources: &[u32]) -> SourceFilter {
        apply(record::MODE_IS_EXCLUDE, SourceFilter::NO_SOURCE, sources)
    }

    fn sorted(filter: SourceFilter) -> (u32, Vec<u32>) {
        let mut listed = filter.listed().to_vec();
        listed.sort_unstable();
        (filter.mode, listed)
    }

    #[test]
    fn current_state_and_mode_change_records_replace_the_filter() {
        let any = SourceFilter::ANY_SOURCE;
        assert_eq!(
            sorted(apply(record::MODE_IS_INCLUDE, any, &[S1])),
            (MODE_INCLUDE, vec![S1])
        );
        assert_eq!(
            sorted(apply(record::CHANGE_TO_INCLUDE_MODE, exclude(&[S2]), &[S1])),
            (MODE_INCLUDE, vec![S1])
        );
        assert_eq!(
            sorted(apply(record::CHANGE_TO_EXCLUDE_MODE, include(&[S1]), &[S2])),
            (MODE_EXCLUDE, vec![S2])
        );
        assert!(apply(record::CHANGE_TO_EXCLUDE_MODE, include(&[S1]), &[]).is_any_source());
        assert!(apply(record::CHANGE_TO_INCLUDE_MODE, include(&[S1]), &[]).wants_nothing());
    }

    #[test]
    fn allow_and_block_edit_the_list_by_mode() {
        // INCLUDE(A) + ALLOW(B) = INCLUDE(A+B); BLOCK(B) = INCLUDE(A-B).
        assert_eq!(
            sorted(apply(record::ALLOW_NEW_SOURCES, include(&[S1]), &[S2, S1])),
            (MODE_INCLUDE, vec![S1, S2])
        );
        assert_eq!(
            sorted(apply(record::BLOCK_OLD_SOURCES, include(&[S1, S2]), &[S1])),
            (MODE_INCLUDE, vec![S2])
        );
        // EXCLUDE(X) + ALLOW(A) = EXCLUDE(X-A); BLOCK(A) = EXCLUDE(X+A).
        assert_eq!(
            sorted(apply(record::ALLOW_NEW_SOURCES, exclude(&[S1, S2]), &[S2])),
            (MODE_EXCLUDE, vec![S1])
        );
        assert_eq!(
            sorted(apply(record::BLOCK_OLD_SOURCES, exclude(&[S1]), &[S3])),
            (MODE_EXCLUDE, vec![S1, S3])
        );
    }

    #[test]
    fn blocking_the_last_included_source_wants_nothing() {
        assert!(apply(record::BLOCK_OLD_SOURCES, include(&[S1]), &[S1]).wants_nothing());
        // A member that is not subscribed stays so on a BLOCK, and joins on an ALLOW.
        assert!(apply(record::BLOCK_OLD_SOURCES, SourceFilter::NO_SOURCE, &[S1]).wants_nothing());
        assert_eq!(
            sorted(apply(
                record::ALLOW_NEW_SOURCES,
                SourceFilter::NO_SOURCE,
                &[S1]
            )),
            (MODE_INCLUDE, vec![S1])
        );
    }

    #[test]
    fn only_source_list_changes_of_non_members_have_no_effect() {
        let not_subscribed = SourceFilter::NO_SOURCE;
        let block = |current| {
            let mut update = RecordUpdate::begin(record::BLOCK_OLD_SOURCES, current).unwrap();
            update.source(S1);
            update
        };
        assert!(block(not_subscribed).has_no_effect());
        assert!(
            RecordUpdate::begin(record::ALLOW_NEW_SOURCES, not_subscribed)
                .unwrap()
                .has_no_effect()
        );
        // Blocking a member's last source, and TO_IN{} of anyone, are leaves.
        assert!(!block(include(&[S1])).has_no_effect());
        assert!(block(include(&[S1])).filter().wants_nothing());
        let to_in = RecordUpdate::begin(record::CHANGE_TO_INCLUDE_MODE, not_subscribed).unwrap();
        assert!(!to_in.has_no_effect());
    }

    #[test]
    fn a_list_past_the_bound_becomes_any_source() {
        let many: Vec<u32> = (1..=MAX_SOURCES_PER_MEMBER + 1)
            .map(|i| addr_key(Ipv4Addr::new(10, 0, 0, i as u8)))
            .collect();
        let mut update =
            RecordUpdate::begin(record::MODE_IS_INCLUDE, SourceFilter::NO_SOURCE).unwrap();
        for &source in &many[..MAX_SOURCES_PER_MEMBER as usize] {
            update.source(source);
        }
        assert!(!update.overflowed());
        assert_eq!(update.filter().count, MAX_SOURCES_PER_MEMBER);
        update.source(many[MAX_SOURCES_PER_MEMBER as usize]);
        assert!(update.overflowed());
        assert!(update.filter().is_any_source());
        // Sources after the overflow are not read.
        update.source(S1);
        assert!(update.filter().is_any_source());
    }

    #[test]
    fn passes_by_mode() {
        assert!(include(&[S1]).passes(S1));
        assert!(!include(&[S1]).passes(S2));
        assert!(!exclude(&[S1]).passes(S1));
        assert!(exclude(&[S1]).passes(S2));
        assert!(SourceFilter::ANY_SOURCE.passes(S3));
        assert!(!SourceFilter::NO_SOURCE.passes(S3));
    }

    #[test]
    fn merging_members_follows_rfc3376_section_3_2() {
        // INCLUDE + INCLUDE: the union.
        assert_eq!(
            sorted(include(&[S1]).merge(include(&[S2, S1]))),
            (MODE_INCLUDE, vec![S1, S2])
        );
        // EXCLUDE + EXCLUDE: what both refuse.
        assert_eq!(
            sorted(exclude(&[S1, S2]).merge(exclude(&[S2, S3]))),
            (MODE_EXCLUDE, vec![S2])
        );
        // INCLUDE + EXCLUDE: what the EXCLUDE member refuses and the INCLUDE one does not ask.
        assert_eq!(
            sorted(include(&[S1]).merge(exclude(&[S1, S2]))),
            (MODE_EXCLUDE, vec![S2])
        );
        assert_eq!(
            sorted(exclude(&[S1, S2]).merge(include(&[S2]))),
            (MODE_EXCLUDE, vec![S1])
        );
        // Not a member (INCLUDE{}) changes nothing; any source wins.
        assert_eq!(
            SourceFilter::NO_SOURCE.merge(include(&[S1])),
            include(&[S1])
        );
        assert!(
            SourceFilter::ANY_SOURCE
                .merge(include(&[S1]))
                .is_any_source()
        );
        // A union past the bound is every source.
        let eight: Vec<u32> = (1..=8)
            .map(|i| addr_key(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        assert!(include(&eight).merge(include(&[S1])).is_any_source());
    }

    #[test]
    fn new_refuses_more_than_the_bound_and_unknown_modes() {
        assert_eq!(SourceFilter::new(MODE_INCLUDE, &[S1]), Some(include(&[S1])));
        assert_eq!(SourceFilter::new(3, &[S1]), None);
        let nine: Vec<u32> = (1..=9)
            .map(|i| addr_key(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        assert_eq!(SourceFilter::new(MODE_EXCLUDE, &nine), None);
    }

    #[test]
    fn unknown_record_types_change_nothing() {
        assert_eq!(RecordUpdate::begin(0, SourceFilter::ANY_SOURCE), None);
        assert_eq!(RecordUpdate::begin(7, SourceFilter::ANY_SOURCE), None);
    }
}
