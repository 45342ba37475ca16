# cmake -DDOC=<file.md> -DNAME=<doc name> [-DSCAFFOLD=<scaffold.c>] -DOUT=<dir>
#       -DSTAMP=<file> -P extract.cmake
#
# Writes the ```c blocks of DOC (indented ones too, their indentation removed)
# to OUT, under the names that SCAFFOLD gives them (tests/docs/snippet.h):
#   SNIPPET(name, "start")           the block whose first non-blank line
#                                     begins with start, to OUT/name.c
#   SNIPPET(name, "start", "split")  the same block cut before its first line
#                                     that begins with split: the lines above
#                                     (functions, for file scope) to
#                                     OUT/name.defs.c, the rest to OUT/name.c
#   SNIPPET_PROGRAM(name, "start")   a whole program, to OUT/name.c
# Every block must be claimed by exactly one SNIPPET, every SNIPPET must claim
# a block, and they must come in the doc's order; otherwise the build stops
# with a message that says what to update. Without SCAFFOLD, DOC must have no
# ```c block. Each file written starts with a #line directive, so that the
# compiler's messages name the doc's own lines. Files whose text has not
# changed are not written again.
cmake_minimum_required(VERSION 3.16...3.25)
foreach(var DOC NAME OUT STAMP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "extract.cmake: -D${var}=... is missing")
  endif()
endforeach()
get_filename_component(top "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
file(RELATIVE_PATH doc_rel "${top}" "${DOC}")

# CMake lists split at ';' and keep '[...]' together: while the text is a
# list of lines, those characters are swapped for control characters.
string(ASCII 1 semi)
string(ASCII 2 lbracket)
string(ASCII 3 rbracket)
function(tg_lines text out)
  string(REPLACE ";" "${semi}" _t "${text}")
  string(REPLACE "[" "${lbracket}" _t "${_t}")
  string(REPLACE "]" "${rbracket}" _t "${_t}")
  string(REPLACE "\r" "" _t "${_t}")
  string(REPLACE "\n" ";" _t "${_t}")
  set(${out} "${_t}" PARENT_SCOPE)
endfunction()
function(tg_unescape var)
  string(REPLACE "${semi}" ";" _t "${${var}}")
  string(REPLACE "${lbracket}" "[" _t "${_t}")
  string(REPLACE "${rbracket}" "]" _t "${_t}")
  set(${var} "${_t}" PARENT_SCOPE)
endfunction()

# ---- the blocks of the doc: block_<i>_lines (escaped), _line (the number of
# its first line in the doc), _head (its first non-blank line, stripped)
file(READ "${DOC}" doc_text)
tg_lines("${doc_text}" doc_lines)
set(n_blocks 0)
set(indices "")
set(in_fence FALSE)
set(in_c FALSE)
set(lineno 0)
foreach(line IN LISTS doc_lines)
  math(EXPR lineno "${lineno} + 1")
  if(NOT in_fence)
    if(line MATCHES "^( *)```(.*)$")
      set(in_fence TRUE)
      string(LENGTH "${CMAKE_MATCH_1}" indent)
      string(STRIP "${CMAKE_MATCH_2}" info)
      if(info STREQUAL "c")
        set(in_c TRUE)
        math(EXPR n_blocks "${n_blocks} + 1")
        list(APPEND indices ${n_blocks})
        math(EXPR first "${lineno} + 1")
        set(block_${n_blocks}_line ${first})
        set(block_${n_blocks}_lines "")
        set(block_${n_blocks}_head "")
      endif()
    endif()
  elseif(line MATCHES "^ *``` *$")
    set(in_fence FALSE)
    set(in_c FALSE)
  elseif(in_c)
    string(LENGTH "${line}" len)
    if(len GREATER indent)
      string(SUBSTRING "${line}" ${indent} -1 body)
    else()
      string(STRIP "${line}" body)
    endif()
    list(APPEND block_${n_blocks}_lines "${body}")
    if(block_${n_blocks}_head STREQUAL "")
      tg_unescape(body)
      string(STRIP "${body}" block_${n_blocks}_head)
    endif()
  endif()
endforeach()
if(in_fence)
  message(FATAL_ERROR "${doc_rel}: a fenced block is not closed")
endif()

if(NOT DEFINED SCAFFOLD OR SCAFFOLD STREQUAL "")
  if(n_blocks GREATER 0)
    message(FATAL_ERROR "${doc_rel} has ${n_blocks} ```c block(s), the first at line "
      "${block_1_line}, and no scaffold to compile them in: write "
      "tests/docs/scaffold_${NAME}.c (see tests/docs/snippet.h), or make the "
      "blocks another language (```sh, ```text).")
  endif()
  file(WRITE "${STAMP}" "0\n")
  return()
endif()
file(RELATIVE_PATH scaffold_rel "${top}" "${SCAFFOLD}")

# ---- the scaffold's SNIPPETs, in order
file(READ "${SCAFFOLD}" scaffold_text)
tg_lines("${scaffold_text}" scaffold_lines)
set(names "")
foreach(line IN LISTS scaffold_lines)
  if(line MATCHES "^ *SNIPPET(_PROGRAM)?\\(([a-z0-9_]+), \"([^\"]*)\"(, \"([^\"]*)\")?\\)")
    set(name "${CMAKE_MATCH_2}")
    set(marker "${CMAKE_MATCH_3}")
    set(split "${CMAKE_MATCH_5}")
    tg_unescape(marker)
    tg_unescape(split)
    if(name IN_LIST names)
      message(FATAL_ERROR "${scaffold_rel}: two SNIPPETs are named ${name}")
    endif()
    list(APPEND names ${name})
    set(marker_${name} "${marker}")
    set(split_${name} "${split}")
  endif()
endforeach()
list(LENGTH names n_names)

# ---- each block to the one SNIPPET whose start begins its first line
set(problems "")
set(claimed "")
foreach(i IN LISTS indices)
  set(owner "")
  foreach(name IN LISTS names)
    string(FIND "${block_${i}_head}" "${marker_${name}}" at)
    if(at EQUAL 0)
      if(NOT owner STREQUAL "")
        string(APPEND problems "\n  block ${i} (line ${block_${i}_line}) begins as both "
               "SNIPPET(${owner}) and SNIPPET(${name}) say: make their starts longer")
      endif()
      set(owner ${name})
    endif()
  endforeach()
  string(SUBSTRING "${block_${i}_head}" 0 70 head)
  if(owner STREQUAL "")
    string(APPEND problems "\n  block ${i} (line ${block_${i}_line}), '${head}', "
           "has no SNIPPET in the scaffold (a new block, or its first line changed?)")
  elseif(DEFINED claim_${owner})
    string(APPEND problems "\n  SNIPPET(${owner}, \"${marker_${owner}}\") begins both block "
           "${claim_${owner}} and block ${i} (line ${block_${i}_line}): make its start longer")
  else()
    set(block_${i}_name ${owner})
    set(claim_${owner} ${i})
    list(APPEND claimed ${owner})
  endif()
endforeach()
foreach(name IN LISTS names)
  if(NOT name IN_LIST claimed)
    string(APPEND problems "\n  SNIPPET(${name}, \"${marker_${name}}\") matches no block of "
           "the doc (a block removed, or its first line changed?)")
  endif()
endforeach()
if(problems STREQUAL "" AND NOT claimed STREQUAL names)
  string(REPLACE ";" ", " in_doc "${claimed}")
  string(REPLACE ";" ", " in_scaffold "${names}")
  string(APPEND problems "\n  the doc has them in the order ${in_doc}"
         "\n  the scaffold in the order    ${in_scaffold}")
endif()
if(NOT problems STREQUAL "")
  message(FATAL_ERROR "${doc_rel}: its ${n_blocks} ```c blocks do not match the "
    "${n_names} SNIPPETs of ${scaffold_rel}:${problems}\n"
    "A ```c block of ${doc_rel} was added, removed, moved or its first line "
    "rewritten: update ${scaffold_rel} to match (one SNIPPET(name, \"start of "
    "its first line\") per block, in the doc's order, with the declarations the "
    "block needs around its #include; tests/docs/snippet.h says how).\n")
endif()

# ---- write them
function(tg_write file first_line lines)
  string(REPLACE ";" "\n" text "${lines}")
  tg_unescape(text)
  set(text "#line ${first_line} \"${DOC}\"\n${text}\n")
  set(old "")
  if(EXISTS "${file}")
    file(READ "${file}" old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${file}" "${text}")
  endif()
endfunction()

file(MAKE_DIRECTORY "${OUT}")
foreach(i IN LISTS indices)
  set(name ${block_${i}_name})
  set(lines "${block_${i}_lines}")
  if(split_${name} STREQUAL "")
    tg_write("${OUT}/${name}.c" ${block_${i}_line} "${lines}")
  else()
    set(k 0)
    set(at -1)
    foreach(line IN LISTS lines)
      tg_unescape(line)
      string(STRIP "${line}" line)
      string(FIND "${line}" "${split_${name}}" found)
      if(found EQUAL 0 AND k GREATER 0)
        set(at ${k})
        break()
      endif()
      math(EXPR k "${k} + 1")
    endforeach()
    if(at EQUAL -1)
      message(FATAL_ERROR "${doc_rel}: block ${i} (line ${block_${i}_line}) has no line "
        "after its first that begins '${split_${name}}', where SNIPPET(${name}, ...) of "
        "${scaffold_rel} cuts it: update the third argument of that SNIPPET.\n")
    endif()
    list(SUBLIST lines 0 ${at} defs)
    list(SUBLIST lines ${at} -1 body)
    math(EXPR body_line "${block_${i}_line} + ${at}")
    tg_write("${OUT}/${name}.defs.c" ${block_${i}_line} "${defs}")
    tg_write("${OUT}/${name}.c" ${body_line} "${body}")
  endif()
endforeach()
file(WRITE "${STAMP}" "${n_blocks}\n")
