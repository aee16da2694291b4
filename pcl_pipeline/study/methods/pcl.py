"""PCL and its ablations: frozen backbone, prompt (+ contextual module) and adapter per task."""
from __future__ import annotations

from pcl_pipeline.study.methods.base import Method

PCL = Method("PCL", "prompt + contextual module + adapter; p_k inherits p_{k-1} from k >= 3; backbone frozen")
PCL_NO_CONTEXT = Method("PCL-no-context", "prompt + adapter (lam = 0: no contextual module); backbone frozen",
                        overrides={"lam": 0.0})
PCL_NO_INHERIT = Method("PCL-no-inherit", "as PCL, but p_k starts random for every k",
                        overrides={"inherit_prompt": False})
PCL_RANDOM_TEXT = Method("PCL-random-text", "as PCL, task texts embedded by the random text encoder",
                         text_encoder="random")
