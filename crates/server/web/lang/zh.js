// 中文。
"use strict";
