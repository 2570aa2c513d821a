"""Python keywords as a command line: the library calls (engine.fit, Run.resume, Run.export) parse their keywords
with the command's own argparse parser, so a call and its command cannot drift apart (the same names, types,
defaults and checks), and a bad keyword is the command's one-line error, raised as a UserError.

A keyword is an option's `dest` (`data_dir` for `--data-dir`). Imports nothing heavy.
"""

import argparse
import os

from engine.errors import UserError


class RaisingParser(argparse.ArgumentParser):
    """An ArgumentParser for library calls: its errors are raised as UserError (one line), not printed with the
    usage before exiting."""

    def error(self, message):
        raise UserError(message)


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's options by keyword (`dest`), --help left out."""
    return {
        a.dest: a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
    }  # argparse has no public list of its actions


def to_argv(parser: argparse.ArgumentParser, keywords: dict, *, who: str) -> list[str]:
    """The command line that asks for what `keywords` ask for, in `parser`'s options.

    None leaves an option out (the command's default). A flag takes True (or False: left out); a --x/--no-x flag
    True or False; an option of one value takes anything `str()` spells as the command line would (a path, a
    number), a list or tuple written comma-separated; an option given several times (`action="append"`) a list.

    Raises:
      UserError: a keyword the parser has no option for (naming the valid ones), or a flag given something other
        than True or False. `who` names the call in the message.
    """
    known = options(parser)
    argv = []
    for key, value in keywords.items():
        if value is None:
            continue
        action = known.get(key)
        if action is None:
            raise UserError(f"{who} got an unexpected keyword {key!r}; valid: {', '.join(sorted(known))}")
        flag = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction) or action.nargs == 0:
            if not isinstance(value, bool):
                raise UserError(f"{who}: {key}={value!r}: expected True or False")
            if isinstance(action, argparse.BooleanOptionalAction):
                argv.append(flag if value else f"--no-{flag[2:]}")
            elif value:
                argv.append(flag)
        elif isinstance(action, argparse._AppendAction):
            argv += [f"{flag}={spell(v)}" for v in (value if isinstance(value, (list, tuple)) else [value])]
        else:
            argv.append(f"{flag}={spell(value)}")  # "=": a value starting with "-" is still this option's
    return argv


def spell(value) -> str:
    """A Python value as a command line writes it: paths as they are, True/False as true/false, sequences
    comma-separated (an image shape, a list of minutes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(spell(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)
