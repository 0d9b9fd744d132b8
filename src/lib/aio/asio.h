// asio.h - the one way Postern includes Boost.Asio.
//
// Asio is compiled once, in asio_impl.cpp (BOOST_ASIO_SEPARATE_COMPILATION),
// instead of in every translation unit that uses it; that keeps the build
// lean on small machines. Boost 1.74's awaitable.hpp also forgets
// <utility>, so it is included first here. Include this header only from
// .cpp files and from headers that really need Asio types.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace postern {
namespace asio = boost::asio;
using boost::system::error_code;
}  // namespace postern
