//! The segment engine: in-memory indexes (roaring bitmaps per trait value and per code, and a
//! time-ordered event list per patient and event) kept current on every identify and track,
//! so a segment is evaluated without scanning profiles. It must agree with the reference
//! evaluator on every population.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use roaring::RoaringBitmap;
use serde_json::{Map, Value};

use super::eval::in_window;
use super::{CmpOp, Condition, CountOp, EventWindow, Expr, Literal};
use crate::authorization::{AuthorizationSummary, Validity};
use crate::consent::{ConsentState, ConsentStatus};
use crate::contact::Channel;

/// An indexable scalar, ordered within its own type (types apart from each other).
#[derive(Debug, Clone)]
enum Key {
    Bool(bool),
    Num(f64),
    Str(String),
}

impl Key {
    fn rank(&self) -> u8 {
        match self {
            Key::Bool(_) => 0,
            Key::Num(_) => 1,
            Key::Str(_) => 2,
        }
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Num(a), Key::Num(b)) => a.total_cmp(b),
            (Key::Str(a), Key::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Key {}

fn key_of(v: &Value) -> Option<Key> {
    match v {
        Value::Bool(b) => Some(Key::Bool(*b)),
        Value::Number(n) => n.as_f64().filter(|f| !f.is_nan()).map(Key::Num),
        Value::String(s) => Some(Key::Str(s.clone())),
        _ => None,
    }
}

fn key_of_literal(l: &Literal) -> Key {
    match l {
        Literal::Bool(b) => Key::Bool(*b),
        Literal::Num(n) => Key::Num(*n),
        Literal::Str(s) => Key::Str(s.clone()),
    }
}

fn same_type(a: &Key, b: &Key) -> bool {
    a.rank() == b.rank()
}

#[derive(Debug, Default)]
struct FieldIndex {
    present: RoaringBitmap,
    scalars: BTreeMap<Key, RoaringBitmap>,
    elements: HashMap<String, RoaringBitmap>,
}

/// An event as the engine keeps it: 16 bytes, with its properties interned (many events
/// share the same property set).
#[derive(Debug, Clone, Copy)]
struct StoredEvent {
    at: i64,
    props: u32,
}

/// The engine.
#[derive(Debug, Default)]
pub struct SegmentEngine {
    ids: Vec<String>,
    index: HashMap<String, u32>,
    all: RoaringBitmap,
    traits: Vec<Map<String, Value>>,
    fields: HashMap<String, FieldIndex>,
    events: HashMap<String, Vec<Vec<StoredEvent>>>,
    event_any: HashMap<String, RoaringBitmap>,
    consents: Vec<ConsentState>,
    consent_bits: HashMap<(Channel, Option<String>, bool), RoaringBitmap>,
    authorizations: HashMap<u32, Vec<AuthorizationSummary>>,
    prop_sets: Vec<Map<String, Value>>,
    prop_index: HashMap<String, u32>,
}

impl SegmentEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many patients it knows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it knows no patient.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The dense number of a patient, adding it when new.
    pub fn patient(&mut self, external_id: &str) -> u32 {
        if let Some(n) = self.index.get(external_id) {
            return *n;
        }
        let n = self.ids.len() as u32;
        self.ids.push(external_id.to_owned());
        self.index.insert(external_id.to_owned(), n);
        self.all.insert(n);
        self.traits.push(Map::new());
        self.consents.push(ConsentState::default());
        n
    }

    /// The external id of a dense number.
    pub fn external_id(&self, n: u32) -> Option<&str> {
        self.ids.get(n as usize).map(String::as_str)
    }

    fn unindex(&mut self, n: u32, field: &str, value: &Value) {
        if let Some(ix) = self.fields.get_mut(field) {
            ix.present.remove(n);
            if let Some(k) = key_of(value)
                && let Some(b) = ix.scalars.get_mut(&k)
            {
                b.remove(n);
            }
            for e in value.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Some(b) = ix.elements.get_mut(e) {
                    b.remove(n);
                }
            }
        }
    }

    fn reindex(&mut self, n: u32, field: &str, value: &Value) {
        let ix = self.fields.entry(field.to_owned()).or_default();
        ix.present.insert(n);
        if let Some(k) = key_of(value) {
            ix.scalars.entry(k).or_default().insert(n);
        }
        for e in value.as_array().into_iter().flatten().filter_map(Value::as_str) {
            ix.elements.entry(e.to_owned()).or_default().insert(n);
        }
    }

    /// Applies trait changes (`None` removes the trait).
    pub fn update_traits<'a>(&mut self, external_id: &str, changes: impl IntoIterator<Item = (&'a str, Option<&'a Value>)>) {
        let n = self.patient(external_id);
        for (field, value) in changes {
            if let Some(old) = self.traits[n as usize].remove(field) {
                self.unindex(n, field, &old);
            }
            if let Some(v) = value.filter(|v| !v.is_null()) {
                self.reindex(n, field, v);
                self.traits[n as usize].insert(field.to_owned(), v.clone());
            }
        }
    }

    /// Records an event.
    pub fn add_event(&mut self, external_id: &str, name: &str, at: Timestamp, properties: Map<String, Value>) {
        let n = self.patient(external_id);
        let props = self.intern(properties);
        let at = at.as_microsecond();
        if !self.events.contains_key(name) {
            self.events.insert(name.to_owned(), Vec::new());
            self.event_any.insert(name.to_owned(), RoaringBitmap::new());
        }
        let lists = self.events.get_mut(name).expect("inserted above");
        if lists.len() <= n as usize {
            lists.resize_with(n as usize + 1, Vec::new);
        }
        let list = &mut lists[n as usize];
        let pos = list.partition_point(|e| e.at <= at);
        list.insert(pos, StoredEvent { at, props });
        if let Some(any) = self.event_any.get_mut(name) {
            any.insert(n);
        }
    }

    fn intern(&mut self, properties: Map<String, Value>) -> u32 {
        if properties.is_empty() && !self.prop_sets.is_empty() {
            return 0;
        }
        if self.prop_sets.is_empty() {
            self.prop_sets.push(Map::new());
            self.prop_index.insert(Value::Object(Map::new()).to_string(), 0);
        }
        let key = Value::Object(properties).to_string();
        if let Some(n) = self.prop_index.get(&key) {
            return *n;
        }
        let n = self.prop_sets.len() as u32;
        self.prop_sets.push(serde_json::from_str(&key).unwrap_or_default());
        self.prop_index.insert(key, n);
        n
    }

    /// Replaces a patient's current consent.
    pub fn set_consents(&mut self, external_id: &str, state: ConsentState) {
        let n = self.patient(external_id);
        for bits in self.consent_bits.values_mut() {
            bits.remove(n);
        }
        for r in state.iter() {
            let key = (r.channel, r.topic.as_ref().map(|t| t.as_str().to_owned()), r.status == ConsentStatus::OptedIn);
            self.consent_bits.entry(key).or_default().insert(n);
        }
        self.consents[n as usize] = state;
    }

    /// Replaces a patient's authorizations.
    pub fn set_authorizations(&mut self, external_id: &str, auths: Vec<AuthorizationSummary>) {
        let n = self.patient(external_id);
        self.authorizations.insert(n, auths);
    }

    /// The members of a segment at `now`.
    pub fn evaluate(&self, expr: &Expr, now: Timestamp) -> RoaringBitmap {
        self.within(expr, now, &self.all)
    }

    /// The members within `scope`: `and` narrows the scope as it goes, so later conditions
    /// (event scans above all) only look at patients still in the running.
    fn within(&self, expr: &Expr, now: Timestamp, scope: &RoaringBitmap) -> RoaringBitmap {
        match expr {
            Expr::And(xs) => {
                let mut acc = scope.clone();
                for x in xs {
                    if acc.is_empty() {
                        break;
                    }
                    acc = self.within(x, now, &acc);
                }
                acc
            }
            Expr::Or(xs) => xs.iter().fold(RoaringBitmap::new(), |acc, x| acc | self.within(x, now, scope)),
            Expr::Not(x) => scope - &self.within(x, now, scope),
            Expr::Cond(Condition::Did { event, filter, count, window }) => self.did(event, filter.as_ref(), *count, window.as_ref(), now, scope),
            Expr::Cond(c) => self.condition(c, now) & scope,
        }
    }

    fn eq(&self, field: &str, value: &Literal) -> RoaringBitmap {
        self.fields.get(field).and_then(|ix| ix.scalars.get(&key_of_literal(value))).cloned().unwrap_or_default()
    }

    fn condition(&self, cond: &Condition, now: Timestamp) -> RoaringBitmap {
        match cond {
            Condition::Compare { field, op, value } => match op {
                CmpOp::Eq => self.eq(field, value),
                CmpOp::Ne => &self.all - &self.eq(field, value),
                _ => {
                    let k = key_of_literal(value);
                    let Some(ix) = self.fields.get(field) else { return RoaringBitmap::new() };
                    ix.scalars
                        .iter()
                        .filter(|(key, _)| same_type(key, &k))
                        .filter(|(key, _)| match op {
                            CmpOp::Lt => **key < k,
                            CmpOp::Le => **key <= k,
                            CmpOp::Gt => **key > k,
                            CmpOp::Ge => **key >= k,
                            _ => false,
                        })
                        .fold(RoaringBitmap::new(), |acc, (_, b)| acc | b)
                }
            },
            Condition::In { field, values } => values.iter().fold(RoaringBitmap::new(), |acc, v| acc | self.eq(field, v)),
            Condition::Exists { field } => self.fields.get(field).map(|ix| ix.present.clone()).unwrap_or_default(),
            Condition::Has { field, code } => self.fields.get(field).and_then(|ix| ix.elements.get(code)).cloned().unwrap_or_default(),
            Condition::Did { event, filter, count, window } => self.did(event, filter.as_ref(), *count, window.as_ref(), now, &self.all),
            Condition::Consent { channel, topic, opted_in } => self.consent_bits.get(&(*channel, topic.clone(), *opted_in)).cloned().unwrap_or_default(),
            Condition::Authorized => self
                .authorizations
                .iter()
                .filter(|(_, auths)| auths.iter().any(|a| a.validity(now, &[jiff::tz::TimeZone::UTC]) == Validity::Valid))
                .map(|(n, _)| *n)
                .collect(),
        }
    }

    fn did(
        &self,
        event: &str,
        filter: Option<&(String, CmpOp, Literal)>,
        count: Option<(CountOp, u32)>,
        window: Option<&EventWindow>,
        now: Timestamp,
        scope: &RoaringBitmap,
    ) -> RoaringBitmap {
        let ok = |n: u64| match count {
            None => n >= 1,
            Some((CountOp::AtLeast, k)) => n >= u64::from(k),
            Some((CountOp::AtMost, k)) => n <= u64::from(k),
            Some((CountOp::Exactly, k)) => n == u64::from(k),
        };
        let Some(per_patient) = self.events.get(event) else {
            return if ok(0) { scope.clone() } else { RoaringBitmap::new() };
        };
        let with_event = &self.event_any[event] & scope;
        let mut out = if ok(0) { scope - &with_event } else { RoaringBitmap::new() };
        for n in &with_event {
            let Some(list) = per_patient.get(n as usize) else { continue };
            let slice: &[StoredEvent] = match window {
                Some(EventWindow::WithinDays(days)) => {
                    let from = (now - jiff::SignedDuration::from_hours(24 * i64::from(*days))).as_microsecond();
                    let now = now.as_microsecond();
                    let lo = list.partition_point(|e| e.at <= from);
                    let hi = list.partition_point(|e| e.at <= now);
                    &list[lo..hi.max(lo)]
                }
                _ => list,
            };
            let hits = slice
                .iter()
                .filter(|e| !matches!(window, Some(EventWindow::Between(..))) || in_window(window, Timestamp::from_microsecond(e.at).unwrap_or_default(), now))
                .filter(|e| filter.is_none_or(|(p, op, v)| super::eval::compare_value(self.prop_sets.get(e.props as usize).and_then(|m| m.get(p)), *op, v)))
                .count() as u64;
            if ok(hits) {
                out.insert(n);
            }
        }
        out
    }

    /// Who entered and who left a segment since a previous membership.
    pub fn changes(&self, previous: &RoaringBitmap, expr: &Expr, now: Timestamp) -> (RoaringBitmap, RoaringBitmap, RoaringBitmap) {
        let current = self.evaluate(expr, now);
        let entered = &current - previous;
        let left = previous - &current;
        (current, entered, left)
    }

    /// A patient's traits, for the reference evaluator in tests and tools.
    pub fn traits_of(&self, n: u32) -> Option<&Map<String, Value>> {
        self.traits.get(n as usize)
    }
}
