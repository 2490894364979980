//! Audit diffs: RFC 6902 JSON Patches between two versions of a definition or plan, made so
//! that the previous version can be rebuilt from the next one. Each `replace` and `remove` is
//! preceded by a `test` of the value it changes, so the patch carries what was there, still
//! applies with any RFC 6902 tool, and [`invert`] turns it into the patch back.

use json_patch::{jsonptr::PointerBuf, TestOperation};
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::Value;

/// The patch from `before` to `after`: `add`, `remove` and `replace` operations, each `remove`
/// and `replace` preceded by a `test` of the value it takes away. Empty when they are equal.
///
/// ```
/// use pilot_gate_core::control::diff::{apply, diff, invert};
/// use serde_json::json;
/// let (a, b) = (json!({"allow": ["qa-1"], "tier": 1}), json!({"allow": ["qa-1", "qa-2"], "tier": 2}));
/// let patch = diff(&a, &b);
/// assert_eq!(apply(&a, &patch).unwrap(), b);
/// assert_eq!(apply(&b, &invert(&patch)).unwrap(), a);
/// ```
pub fn diff(before: &Value, after: &Value) -> Patch {
    let forward = json_patch::diff(before, after);
    let mut doc = before.clone();
    let mut out = Vec::with_capacity(forward.0.len() * 2);
    for op in forward.0 {
        if let PatchOperation::Replace(ReplaceOperation { path, .. })
        | PatchOperation::Remove(RemoveOperation { path }) = &op
        {
            let old = doc.pointer(path.as_str()).cloned().unwrap_or(Value::Null);
            out.push(test(path.clone(), old));
        }
        // Each operation applies to the document as the ones before left it (array indices
        // shift); it cannot fail on the document it was computed from.
        let _ = json_patch::patch(&mut doc, std::slice::from_ref(&op));
        out.push(op);
    }
    Patch(out)
}

/// The patch that undoes `patch` (one made by [`diff`]): applied to the version after, it gives
/// the version before. Steps are undone in reverse order: an `add` becomes a tested `remove`, a
/// tested `remove` an `add` of the tested value, a tested `replace` a tested `replace` back.
pub fn invert(patch: &Patch) -> Patch {
    let mut steps: Vec<Vec<PatchOperation>> = Vec::new();
    let mut tested: Option<Value> = None;
    for op in &patch.0 {
        match op {
            PatchOperation::Test(t) => tested = Some(t.value.clone()),
            PatchOperation::Add(a) => {
                steps.push(vec![
                    test(a.path.clone(), a.value.clone()),
                    PatchOperation::Remove(RemoveOperation {
                        path: a.path.clone(),
                    }),
                ]);
            }
            PatchOperation::Remove(r) => {
                let old = tested.take().unwrap_or(Value::Null);
                steps.push(vec![PatchOperation::Add(AddOperation {
                    path: r.path.clone(),
                    value: old,
                })]);
            }
            PatchOperation::Replace(r) => {
                let old = tested.take().unwrap_or(Value::Null);
                steps.push(vec![
                    test(r.path.clone(), r.value.clone()),
                    PatchOperation::Replace(ReplaceOperation {
                        path: r.path.clone(),
                        value: old,
                    }),
                ]);
            }
            // `diff` makes neither; a patch from elsewhere keeps them out of the undo.
            PatchOperation::Move(_) | PatchOperation::Copy(_) => {}
        }
    }
    Patch(steps.into_iter().rev().flatten().collect())
}

/// `patch` applied to a copy of `doc`; an error (a failed `test`, a missing path) names the
/// operation.
pub fn apply(doc: &Value, patch: &Patch) -> Result<Value, json_patch::PatchError> {
    let mut out = doc.clone();
    json_patch::patch(&mut out, &patch.0)?;
    Ok(out)
}

fn test(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Test(TestOperation { path, value })
}
