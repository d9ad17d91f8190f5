#!/usr/bin/env python3
"""Remove one permission or tenant check of the runtime at a time and run the
authorization matrix: each removal must make it fail.

    scripts/authorization-mutants.py [--only NAME]

Each mutant is an exact piece of source and what it becomes. The source is restored
after each run (and on Ctrl-C). Prints one line per mutant: the cells that failed, or
SURVIVED when the matrix did not notice. Takes about two minutes per mutant on two
cores (an incremental build and both matrix tests on SQLite); not part of `.ci/run`.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, file, original, mutated)
MUTANTS = [
    ("update checks no grant", "src/action/run.rs",
     '    ctx.caller.check(model, "update")?;\n    let existing = ctx',
     '    let existing = ctx'),
    ("create checks no grant", "src/action/run.rs",
     '        ctx.caller.check(model, "create")?;\n        let unlinked',
     '        let unlinked'),
    ("delete checks no grant", "src/action/run.rs",
     '        ctx.caller.check(model, "delete")?;\n        check_tenant_delete',
     '        check_tenant_delete'),
    ("upsert checks no grant", "src/action/run.rs",
     '    ctx.caller.check(model, "create")?;\n    ctx.caller.check(model, "update")?;\n    let conflict',
     '    let conflict'),
    ("_converge creates without the child's create grant", "src/action/run.rs",
     '        ctx.caller.check(target, "create")?;\n',
     ''),
    ("_converge deletes without the child's delete grant", "src/action/run.rs",
     '        ctx.caller.check(target, "delete")?;\n',
     ''),
    ("_link needs no read grant of its target", "src/action/run.rs",
     '                    ctx.caller.check(target, "read")?;\n',
     ''),
    ("_link of another store", "src/action/run.rs",
     '                    if !ctx.tenant.admits(id) {',
     '                    if false && !ctx.tenant.admits(id) {'),
    ("a caller without a store creates store rows", "src/action/run.rs",
     '        return Err(no_store(model));',
     '        return Ok(());'),
    ("a create may name another store", "src/action/run.rs",
     '        Some(Value::Int(id)) if *id == tenant => {}',
     '        Some(Value::Int(_)) => {}'),
    ("an update may move a record to another store", "src/action/run.rs",
     'pub fn check_move(ctx: &Ctx, model: &Model, input: &RecordInput) -> Result<(), ActionError> {\n',
     'pub fn check_move(ctx: &Ctx, model: &Model, input: &RecordInput) -> Result<(), ActionError> {\n    return Ok(());\n'),
    ("platform fields writable", "src/action/run.rs",
     '    if ctx.caller.internal {\n        return Ok(());\n    }\n    match input.values.iter().find(|(f, _)| model.fields[*f].platform) {',
     '    if true {\n        return Ok(());\n    }\n    match input.values.iter().find(|(f, _)| model.fields[*f].platform) {'),
    ("stores deleted by anyone", "src/action/run.rs",
     '    if model.is_tenant && !ctx.tenant.is_system() {\n        return Err(ActionError::PermissionDenied(format!(\n            "a {} is removed',
     '    if false {\n        return Err(ActionError::PermissionDenied(format!(\n            "a {} is removed'),
    ("stores created by anyone", "src/action/run.rs",
     '    if model.is_tenant {\n        return Err(ActionError::PermissionDenied(format!(\n            "a {} is created',
     '    if false {\n        return Err(ActionError::PermissionDenied(format!(\n            "a {} is created'),
    ("an upsert inserts the caller's id", "src/action/run.rs",
     '        return update_telling(conn, ctx, model_id, id, input).await;\n    }',
     '        input.set(Model::ID, Value::Int(id));\n    }'),
    ("tenant predicate: no store means every store", "src/query/tenant.rs",
     '            Tenant::None => {\n                sql.push(" AND 1=0");\n            }',
     '            Tenant::None => {}'),
    ("tenant predicate: a store sees every store", "src/query/tenant.rs",
     '            Tenant::Store(store) => {\n                sql.push(" AND ");',
     '            Tenant::Store(_) if false => {}\n            Tenant::Store(store) => {\n                let _ = store;\n                sql.push(" AND 1=1");\n            }\n            #[allow(unreachable_patterns)]\n            Tenant::Store(store) => {\n                sql.push(" AND ");'),
    ("an identity without a store is the system", "src/action/mod.rs",
     '            None => Tenant::None,',
     '            None => Tenant::System,'),
    ("bulk create checks no grant", "src/action/bulk.rs",
     '    if let Err(e) = ctx.caller.check(model, "create") {',
     '    if let Err(e) = Ok::<(), ActionError>(()) {'),
    ("bulk upsert checks no grant", "src/action/bulk.rs",
     '        .check(model, "create")\n        .and(ctx.caller.check(model, "update"))',
     '        .check(model, "read")\n        .and(Ok(()))'),
    ("bulk update checks no grant", "src/action/bulk.rs",
     '    if let Err(e) = ctx.caller.check(model, "update") {',
     '    if let Err(e) = Ok::<(), ActionError>(()) {'),
    ("bulk delete checks no grant", "src/action/bulk.rs",
     '        .check(model, "delete")\n        .and_then(|()| run::check_tenant_delete(&ctx, model))',
     '        .check(model, "read")\n        .and_then(|()| run::check_tenant_delete(&ctx, model))'),
    ("bulk links need no read grant", "src/action/bulk.rs",
     '    if target.is_tenant {\n        return Ok(());\n    }\n    ctx.caller.check(target, "read")',
     '    if target.is_tenant {\n        return Ok(());\n    }\n    Ok(())'),
    ("bulk links to another store's records", "src/action/bulk.rs",
     '                Some(id) if !ctx.tenant.is_system() && !visible.contains(&(relation.target, id)) => {',
     '                Some(id) if false && !visible.contains(&(relation.target, id)) => {'),
    ("enqueue checks no grant", "src/queue/mod.rs",
     'pub fn authorize(api: &Api, job: &Job) -> Result<(), ActionError> {\n',
     'pub fn authorize(api: &Api, job: &Job) -> Result<(), ActionError> {\n    if true {\n        return Ok(());\n    }\n'),
    ("a caller without a store enqueues as the system", "src/queue/mod.rs",
     '            Tenant::None => None,',
     '            Tenant::None => Some(Scope::System),'),
    ("every caller reaches any action by its full id", "src/queue/mod.rs",
     '    if caller.tenant.is_system() && id.contains(\'/\') {',
     '    if id.contains(\'/\') {'),
    ("a record by id needs no read grant", "src/graphql/mod.rs",
     '                context.check_read(context.reader.registry.get(model_id))?;',
     ''),
    ("a list needs no read grant", "src/graphql/mod.rs",
     '                context.check_list(model, &args)?;',
     ''),
    ("a filter through a relationship needs no read grant of it", "src/graphql/mod.rs",
     '            self.check_read(registry.get(related))?;',
     ''),
    ("a nested relationship needs no read grant", "src/graphql/models.rs",
     '    context.check_list(registry.get(target_id), &args)?;',
     ''),
    ("a belongsTo field needs no read grant", "src/graphql/models.rs",
     '                            context.check_read(context.reader.registry.get(target_id))?;',
     ''),
    ("a written record is returned without the read grant", "src/graphql/results.rs",
     '            if let Err(e) = checked {\n                return fail(e);\n            }',
     '            let _ = checked;'),
    ("currentSession.bigcommerceStore needs no read grant", "src/graphql/meta.rs",
     '                    context.check_read(context.api.registry.get(tenant))?;',
     ''),
    ("a store's caller acts for another store by its hash", "src/bigcommerce/handlers.rs",
     '    if let (Tenant::Store(_), Some(hash)) = (tenant, store_hash)\n        && hash != store.hash',
     '    if let (Tenant::Store(_), Some(hash)) = (tenant, store_hash)\n        && false && hash != store.hash'),
    ("a store's caller syncs another store", "src/bigcommerce/sync/actions.rs",
     '            if !tenant.admits(store) {',
     '            if false && !tenant.admits(store) {'),
]


def run_matrix():
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", "/var/tmp/bcgraph-target")
    result = subprocess.run(
        ["cargo", "test", "--test", "it", "--", "authorization::", "--nocapture"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    out = result.stdout + result.stderr
    if "could not compile" in out:
        return "DID NOT COMPILE"
    failed = re.findall(r"authorization matrix \(([^)]*)\): (\d+) cells, (\d+) failed", out)
    total = sum(int(f[2]) for f in failed)
    if total == 0 and result.returncode != 0:
        # A matrix that stopped before its count (a panic: the mutant broke what later
        # cells rely on, such as the caller's own store) noticed the mutant too.
        panic = re.search(r"panicked at [^\n]*\n([^\n]*)", out)
        return "the matrix stopped: " + (panic.group(1)[:160] if panic else "test failed")
    if total == 0:
        return "SURVIVED"
    first = re.search(r"^\[[^\n]*", out, re.M)
    example = first.group(0)[:160] if first else ""
    return f"{total} cells failed ({', '.join(f'{f[0]}: {f[2]}' for f in failed)}); e.g. {example}"


def main():
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    survived = 0
    for name, path, original, mutated in MUTANTS:
        if only and only not in name:
            continue
        full = os.path.join(ROOT, path)
        source = open(full).read()
        if source.count(original) != 1:
            print(f"- {name}: the original text is not found exactly once in {path}")
            survived += 1
            continue
        try:
            open(full, "w").write(source.replace(original, mutated))
            verdict = run_matrix()
        finally:
            open(full, "w").write(source)
        if verdict == "SURVIVED":
            survived += 1
        print(f"- {name} ({path}): {verdict}", flush=True)
    sys.exit(1 if survived else 0)


if __name__ == "__main__":
    main()
