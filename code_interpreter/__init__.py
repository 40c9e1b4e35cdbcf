"""The `code_interpreter` built-in tool of Llama 3.1: the model's Python, run in a sandbox.

- `service.run_python(code)`: run it here, in a bubblewrap sandbox (what the Celery worker does);
- `service.run_python_on_worker(code)`: the same on the `code` queue's worker, awaited from async code;
- `results.ExecutionResult`: stdout, stderr, exit status, limits hit, images; `ipython_output()` is
  the text the model reads.
Imports no Django app. How the sandbox is built and why: docs/subsystems/code_interpreter.md.
"""
