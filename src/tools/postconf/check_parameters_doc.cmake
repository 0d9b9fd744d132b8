# Fails when docs/parameters.md differs from `postconf --registry-markdown`.
execute_process(COMMAND ${POSTCONF} --registry-markdown
                OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "postconf --registry-markdown failed (${rc})")
endif()
if(NOT EXISTS ${DOC})
  message(FATAL_ERROR "${DOC} is missing; create it with: postconf --registry-markdown > docs/parameters.md")
endif()
file(READ ${DOC} checked_in)
if(NOT generated STREQUAL checked_in)
  message(FATAL_ERROR "${DOC} is out of date; regenerate it with: postconf --registry-markdown > docs/parameters.md")
endif()
