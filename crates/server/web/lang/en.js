// English.
"use strict";
