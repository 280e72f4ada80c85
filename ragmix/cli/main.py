"""The `ragmix` command: parse, call the library, render. No business logic here.

Exit codes: 0 success, 1 the work ran but something failed (e.g. some files), 2 usage or
configuration error. A ``RagmixError`` is printed as one red line, never a traceback.

One room, though long: most of it is the argument parser (each command's flags and help),
which reads best as one table of the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ragmix.core.errors import ConfigError, RagmixError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML profile: a file, or a shipped profile's name such as zh-small (`ragmix "
        "config list`); env RAGMIX_CONFIG",
    )
    p.add_argument("--store", metavar="DIR", help="store folder; env RAGMIX_STORE")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say what happens (-v), in detail with each error's causes (-vv)",
    )
    p.add_argument(
        "--log-file",
        metavar="FILE",
        help="also append the log to FILE (default for `ragmix ui`: ui.log_file)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ragmix",
        description="Local, private question answering over long documents.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        help="load, chunk, embed and index documents",
        description="Ingest files and folders into the store: pdf (scanned pages read by "
        "OCR), txt, md, docx, html, spreadsheets (xlsx, xlsm, csv, tsv), slide decks (pptx) "
        "and images (png, jpg, jpeg, tif, tiff, bmp, webp; read by OCR, offline). "
        "Incremental: unchanged files are skipped; changed files replace their chunks.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders")
    p.add_argument(
        "--repair",
        action="store_true",
        help="rebuild damaged or missing indexes (catalog, manifest links, BM25, vectors) from "
        "the given files and the store; never removes a document",
    )
    p.add_argument(
        "--reembed",
        action="store_true",
        help="re-embed every stored chunk with the configured embedder (after changing "
        "embeddings.model), from the catalog's texts; resumable after an interruption",
    )
    p.add_argument(
        "--sync",
        action="store_true",
        help="also remove documents whose files are gone from the given folders",
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    _common(p)

    p = sub.add_parser("docs", help="list or delete stored documents")
    docs = p.add_subparsers(dest="docs_command", metavar="ACTION")
    d = docs.add_parser("list", help="documents with pages, chunks, tokens")
    d.add_argument("--json", action="store_true")
    _common(d)
    d = docs.add_parser(
        "delete",
        help="take a name off its document; the document goes with its last name",
        description="A document ingested under several names (identical files) keeps its "
        "other names and its content; deleting its last name, or its id, removes it from "
        "every index.",
    )
    d.add_argument("name", help="one of a document's names (as listed), a file name, or its id")
    _common(d)
    p = sub.add_parser(
        "ask",
        help="answer one question (streams to the terminal)",
        description="Answer a question about the stored documents. The route "
        "(whole document or retrieved passages), its reason and token counts are shown.",
    )
    p.add_argument("question")
    p.add_argument(
        "--doc",
        action="append",
        metavar="NAME",
        help="limit to this document (repeatable); default: all",
    )
    p.add_argument(
        "--mode",
        choices=["auto", "stuff", "retrieve", "search"],
        help="auto (default): whole document when it fits, else retrieval; "
        "search: passages only, no model",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object, no streaming")
    _common(p)

    p = sub.add_parser(
        "warm",
        help="read documents ahead so the first question on each starts at once",
        description="Read documents as a whole-document answer reads them and keep the "
        "model's state on disk (llm.state_disk_mb), so the first whole-document question on "
        "each, in any later process (ask, chat, ui, serve), skips reading it. Documents too "
        "long for the context are skipped: they are answered from retrieved passages.",
    )
    p.add_argument(
        "--doc", action="append", metavar="NAME", help="this document (repeatable); default: all"
    )
    p.add_argument("--json", action="store_true", help="print one JSON line per document")
    _common(p)

    p = sub.add_parser(
        "ui",
        help="serve the web QA page",
        description="Serve the web page (upload, documents, chat with sources). "
        "Listens on 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument("--host", help="listen address (default: ui.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: ui.port, 7860)")
    p.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="require this login (default: ui.auth); advised with --host 0.0.0.0",
    )
    _common(p)

    p = sub.add_parser(
        "serve",
        help="serve an OpenAI-compatible API over the store",
        description="Serve /v1/chat/completions, /v1/models, /v1/documents, /v1/search and "
        "/v1/embeddings, so any OpenAI client (openai SDK, LangChain ChatOpenAI, open-webui) "
        "asks your documents. Listens on 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: server.port, 8000)")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help="require 'Authorization: Bearer KEY' (default: env RAGMIX_API_KEY or "
        "server.api_key); advised with --host 0.0.0.0",
    )
    _common(p)

    p = sub.add_parser("eval", help="measure retrieval or answer quality on a SQuAD-style set")
    ev = p.add_subparsers(dest="eval_command", metavar="KIND")
    e = ev.add_parser("retrieval", help="recall@k and MRR of the retriever `ask` uses")
    e.add_argument("dataset", help="SQuAD-format JSON (CMRC 2018, DRCD, DuReader-style)")
    e.add_argument("--k", default="1,5,10", help="cut-offs, comma-separated (default 1,5,10)")
    e.add_argument("--limit", type=int, help="only the first N questions")
    e.add_argument("--json", action="store_true")
    _common(e)
    e = ev.add_parser(
        "qa",
        help="exact match, F1 and answer-in-sources of the model's answers, per strategy",
        description="Ask a SQuAD-format set's questions and score the answers. With "
        "--doc-tokens, contexts are joined into long documents of that many model tokens and "
        "each question is asked about its own document; --strategies compares routes.",
    )
    e.add_argument("dataset")
    e.add_argument("--limit", type=int, default=50, help="questions to ask (default 50)")
    e.add_argument(
        "--doc-tokens", type=int, help="join contexts into documents of about N model tokens"
    )
    e.add_argument(
        "--per-doc", type=int, default=10, help="questions per long document (default 10)"
    )
    e.add_argument(
        "--strategies", default="auto", help="comma-separated: auto,stuff,retrieve (default auto)"
    )
    e.add_argument(
        "--own-document",
        action="store_true",
        help="ask each question about its own context only (a set of real long documents), "
        "as `ask --doc` does",
    )
    e.add_argument("--details", help="write one JSON line per question and strategy to FILE")
    e.add_argument("--json", action="store_true")
    _common(e)
    e = ev.add_parser(
        "trust",
        help="rejection rate on documents without the answer, accuracy and false alarms on "
        "documents with it",
        description="Ask each question of its own document and of a related document that "
        "does not hold its answer (other contexts of the set sharing the question's rare "
        "words); report how often ragmix marks the second kind unsupported / not in the "
        "documents, how often it answers the first kind right without a mark, the verdict "
        "mix and seconds.",
    )
    e.add_argument("dataset")
    e.add_argument("--limit", type=int, default=20, help="questions, one per context (default 20)")
    e.add_argument(
        "--distractors", type=int, default=3, help="contexts in each related document (default 3)"
    )
    e.add_argument(
        "--mode", choices=("auto", "stuff", "retrieve"), help="route (default: the profile's)"
    )
    e.add_argument("--details", help="write one JSON line per question and document to FILE")
    e.add_argument("--json", action="store_true")
    _common(e)
    e = ev.add_parser(
        "calibrate",
        help="propose router.stuff_max_tokens from `eval qa --json` results",
        description="Read `ragmix eval qa --doc-tokens N --strategies stuff,retrieve --json` "
        "results at several N and propose the longest document length the model answers as "
        "well from whole as from retrieved passages.",
    )
    e.add_argument("results", nargs="+", help="JSON files printed by `ragmix eval qa --json`")
    e.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "doctor",
        help="check a configuration end to end and say what to fix",
        description="Check the store (embedded folder or Chroma server), the catalog and its "
        "indexes, the embedder, the model (loads or answers; context size) and token counting.",
    )
    p.add_argument("--no-model", action="store_true", help="skip loading or calling the model")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    _common(p)

    p = sub.add_parser("config", help="the profiles that ship with ragmix")
    cfg = p.add_subparsers(dest="config_command", metavar="ACTION")
    c = cfg.add_parser("list", help="shipped profiles: name, file, what each is for")
    c.add_argument("--json", action="store_true")

    p = sub.add_parser("chat", help="interactive questions with history")
    p.add_argument("--doc", action="append", metavar="NAME")
    p.add_argument("--mode", choices=["auto", "stuff", "retrieve", "search"])
    _common(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 2
    from ragmix.core.logs import configure

    log = configure(getattr(args, "verbose", 0), getattr(args, "log_file", None))
    try:
        return _dispatch(parser, args)
    except ConfigError as exc:
        _error(str(exc))
        log.debug("the error's causes", exc_info=exc)
        return 2
    except RagmixError as exc:
        _error(str(exc))
        log.debug("the error's causes", exc_info=exc)
        return 1
    except OSError as exc:
        import errno

        if exc.errno != errno.ENOSPC:
            raise
        _error(
            f"no space left on the disk ({exc.filename or 'store'}); free some space and run "
            "the same command again (what was stored before is intact)"
        )
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _error(msg: str) -> None:
    """One red line on stderr. Not wrapped by rich (a terminal wraps it; a script reading
    stderr gets file names whole), and the message is text, never markup."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(msg)}", markup=True
    )


def _ragmix(args: argparse.Namespace) -> Any:
    from ragmix.app.api import RagMix

    store = {"path": args.store} if getattr(args, "store", None) else None
    return RagMix.from_config(args.config, store=store)


def _docs_delete(args: argparse.Namespace) -> int:
    done = _ragmix(args).delete(args.name)
    if done.document_removed:
        print(f"deleted {done.name} ({done.document.n_chunks} chunks)")
    else:
        print(f"removed the name {done.name}; the document stays as {', '.join(done.remaining)}")
    return 0


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command ``args`` names; a command group without its subcommand prints its
    help (and exits)."""
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "ingest": _ingest, "ask": _ask, "chat": _chat, "warm": _warm, "ui": _ui,
        "serve": _serve, "doctor": _doctor,
    }  # fmt: skip
    groups: dict[str, tuple[str, dict[str, Callable[[argparse.Namespace], int]]]] = {
        "eval": ("eval_command", {"retrieval": _eval, "qa": _eval, "trust": _eval,
                                  "calibrate": _calibrate}),
        "config": ("config_command", {"list": _config_list}),
        "docs": ("docs_command", {"list": _docs_list, "delete": _docs_delete}),
    }  # fmt: skip
    if args.command in commands:
        return commands[args.command](args)
    if args.command in groups:
        dest, subcommands = groups[args.command]
        run = subcommands.get(getattr(args, dest, None) or "")
        if run is not None:
            return run(args)
        parser.parse_args([args.command, "--help"])
    return 2


def _ingest(args: argparse.Namespace) -> int:
    from ragmix.cli.console import IngestProgress, print_summary

    if not args.paths and not args.repair and not args.reembed:
        raise ConfigError("give the files or folders to ingest (or --repair, --reembed)")
    rm = _ragmix(args)
    if args.json:
        summary = rm.ingest(*args.paths, sync=args.sync, repair=args.repair, reembed=args.reembed)
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        with IngestProgress() as progress:
            summary = rm.ingest(
                *args.paths,
                sync=args.sync,
                repair=args.repair,
                reembed=args.reembed,
                progress=progress,
            )
        print_summary(summary, rm.location)
    return 0 if summary.ok else 1


def _ask(args: argparse.Namespace) -> int:
    rm = _ragmix(args)
    if args.json:
        answer = rm.ask(args.question, docs=args.doc, mode=args.mode)
        print(json.dumps(answer.as_dict(), ensure_ascii=False))
        return 0
    from ragmix.cli.console import render_stream

    render_stream(rm.stream(args.question, docs=args.doc, mode=args.mode))
    return 0


def _warm(args: argparse.Namespace) -> int:
    from ragmix.cli.console import render_warm

    rm = _ragmix(args)
    results = render_warm(rm.warm(args.doc), as_json=args.json)
    return 0 if all(r.ok for r in results) or not args.doc else 1


def _chat(args: argparse.Namespace) -> int:
    from ragmix.app.desk import Desk
    from ragmix.cli.console import render_stream

    desk = Desk(_ragmix(args))  # the page's door: one history rule
    history: list[tuple[str, str]] = []
    while True:
        try:
            question = input("\n? ").strip()
        except EOFError:
            return 0
        if question in {"", "/exit", "/quit"}:
            if question:
                return 0
            continue
        if question == "/clear":
            history.clear()
            continue
        try:
            state = render_stream(
                desk.stream(question, docs=args.doc, mode=args.mode, history=history)
            )
        except RagmixError as exc:
            _error(str(exc))
            continue
        desk.remember(history, question, state)  # search, failed and empty turns are not kept


def _ui(args: argparse.Namespace) -> int:
    rm = _ragmix(args)
    ui = rm.settings.ui
    if ui.log_file and not args.log_file:
        from ragmix.core.logs import configure

        configure(args.verbose, ui.log_file)
    from ragmix.ui.app import launch

    launch(rm, host=args.host or ui.host, port=args.port or ui.port, auth=args.auth or ui.auth)
    return 0


def _serve(args: argparse.Namespace) -> int:
    rm = _ragmix(args)
    server = rm.settings.server
    key = args.api_key or os.environ.get("RAGMIX_API_KEY") or server.api_key
    from ragmix.server.app import serve

    log_level = "warning" if args.verbose == 0 else "info" if args.verbose == 1 else "debug"
    serve(
        rm,
        host=args.host or server.host,
        port=args.port or server.port,
        api_key=key or None,
        log_level=log_level,
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ragmix.app import evaluation
    from ragmix.cli.console import EvalProgress, print_metrics, print_strategies, print_trust

    rm = _ragmix(args)
    details: list[dict[str, object]] | None = [] if getattr(args, "details", None) else None
    with EvalProgress(quiet=args.json) as progress:
        if args.eval_command == "trust":
            from ragmix.app.trust import run_trust_eval

            result = run_trust_eval(
                Path(args.dataset),
                rm.settings,
                limit=args.limit,
                distractors=args.distractors,
                mode=args.mode,
                progress=progress,
                details=details,
            )
        elif args.eval_command == "retrieval":
            try:
                ks = tuple(int(k) for k in args.k.split(","))
            except ValueError:
                raise ConfigError(f"--k takes whole numbers like 1,5,10, not {args.k!r}") from None
            result = evaluation.run_retrieval_eval(
                Path(args.dataset), rm.settings, ks=ks, limit=args.limit, progress=progress
            )
        else:
            result = evaluation.run_qa_eval(
                Path(args.dataset),
                rm.settings,
                limit=args.limit,
                progress=progress,
                doc_tokens=args.doc_tokens,
                per_doc=args.per_doc,
                strategies=[x.strip() for x in args.strategies.split(",") if x.strip()],
                details=details,
                own_document=args.own_document,
            )
    if details is not None:
        Path(args.details).write_text(
            "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in details),
            encoding="utf-8",
        )
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    elif args.eval_command == "trust":
        print_trust(result, f"trust eval of {args.dataset}")
    elif args.eval_command == "qa":
        print_strategies(result, f"qa eval of {args.dataset}")
    else:
        print_metrics(result, f"{args.eval_command} eval of {args.dataset}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ragmix.app import evaluation

    results = []
    for name in args.results:
        try:
            results.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{name}: not a result of `ragmix eval qa --json` ({exc}); write one with "
                "`ragmix eval qa SET --doc-tokens N --strategies stuff,retrieve --json > FILE`"
            ) from None
    proposal = evaluation.calibrate(results)
    if args.json:
        print(json.dumps(proposal))
        return 0
    for row in proposal["table"]:
        mark = "holds" if row["stuff_holds"] else "loses"
        print(
            f"{row['doc_tokens']:>7,} tokens: stuff F1 {row['stuff_f1']:.3f}, "
            f"retrieve F1 {row['retrieve_f1']:.3f}: whole reading {mark}"
        )
    value = proposal["stuff_max_tokens"]
    print(
        "proposal: no limit (router.stuff_max_tokens: null)"
        if value is None
        else f"proposal, for this model's config:\nrouter:\n  stuff_max_tokens: {value}"
    )
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from ragmix.app.doctor import Check, diagnose

    try:
        rm = _ragmix(args)
    except ConfigError as exc:  # a misspelt key, a bad value: the first thing to report
        checks = [Check("settings", "fail", str(exc), "correct the key or value named above")]
        where = str(args.config or os.environ.get("RAGMIX_CONFIG") or "the default settings")
    else:
        checks = [Check("settings", "ok", "every key is known, every value valid")]
        checks += diagnose(rm, model=not args.no_model)
        where = rm.location
    if args.json:
        print(json.dumps([c.as_dict() for c in checks], ensure_ascii=False))
    else:
        from ragmix.cli.console import print_checks

        print_checks(checks, where)
    return 1 if any(c.status == "fail" for c in checks) else 0


def _config_list(args: argparse.Namespace) -> int:
    from ragmix.core.paths import shipped_profiles

    rows = []
    for name, path in shipped_profiles().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        about = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("#")), "")
        rows.append({"name": name, "path": str(path), "about": about})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not rows:
        _error("no shipped profiles found; reinstall ragmix")
        return 1
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['about']}")
    print(f"\nuse one with --config NAME (e.g. --config {rows[-1]['name']}); files in "
          f"{Path(rows[0]['path']).parent}")  # fmt: skip
    return 0


def _docs_list(args: argparse.Namespace) -> int:
    rm = _ragmix(args)
    docs = [d.as_dict() for d in rm.documents()]
    if args.json:
        print(json.dumps(docs, ensure_ascii=False))
        return 0
    from ragmix.cli.console import print_docs

    print_docs(docs, rm.location)
    return 0


if __name__ == "__main__":
    sys.exit(main())
