// The pages' words in each language, and the switch between them (filled in by the i18n work).
"use strict";
