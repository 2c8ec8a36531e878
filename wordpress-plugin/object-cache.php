<?php
/**
 * Plugin Name: Larder Object Cache
 * Description: Persistent object cache for WordPress on Larder or any memcached server, through the PHP Memcached extension.
 * Version:     1.0.0
 * Requires PHP: 7.4
 * Requires at least: 6.1
 * License:     GPL-2.0-or-later
 *
 * Copy this file to wp-content/object-cache.php.  See README.md beside it.
 *
 * The idea.  Every cache call first looks in a per-request array (the
 * "runtime cache"), and only goes to the server when the runtime cache does
 * not have the answer.  Values go to the server through the Memcached
 * extension, which keeps PHP types (false, 0, '', null, arrays, objects) in
 * the item flags; a miss is told apart from a stored false by the result code,
 * never by the value.
 *
 * Server keys look like  <salt><epoch>:<group>:<group version>:<blog:>key.
 * The epoch and the group versions live in one small item, the "map"
 * (<salt>larder:map), read once per request.  wp_cache_flush() starts a new
 * epoch and wp_cache_flush_group() gives one group a new version; the old
 * items are then unreachable and age out of the server's LRU, so no
 * server-side group delete and no flush_all are needed, and other sites on
 * the same server keep their items.  If the map is ever evicted, a new epoch
 * is drawn: losing the map costs a cold cache, never stale data.
 *
 * Keys longer than 250 bytes or holding bytes outside printable ASCII are
 * replaced by a hash of the whole key, so no key can break the text protocol.
 *
 * Failure.  Timeouts are short, a failing server is ejected from the ketama
 * ring, and after a few connection errors a server group ("bucket") is
 * dropped for the rest of the request.  When the extension is missing or no
 * server answers, the cache works on the runtime array alone and logs one
 * line with error_log().
 */

defined( 'LARDER_OBJECT_CACHE' ) || define( 'LARDER_OBJECT_CACHE', '1.0.0' );

/*
 * The WordPress object-cache API: thin wrappers over $wp_object_cache,
 * with the signatures of wp-includes/cache.php (WordPress 6.1).
 */

function wp_cache_init() {
	$GLOBALS['wp_object_cache'] = new WP_Object_Cache();
}

function wp_cache_add( $key, $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->add( $key, $data, $group, (int) $expire );
}

function wp_cache_add_multiple( array $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->add_multiple( $data, $group, (int) $expire );
}

function wp_cache_replace( $key, $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->replace( $key, $data, $group, (int) $expire );
}

function wp_cache_set( $key, $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->set( $key, $data, $group, (int) $expire );
}

function wp_cache_set_multiple( array $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->set_multiple( $data, $group, (int) $expire );
}

function wp_cache_get( $key, $group = '', $force = false, &$found = null ) {
	global $wp_object_cache;
	return $wp_object_cache->get( $key, $group, $force, $found );
}

function wp_cache_get_multiple( $keys, $group = '', $force = false ) {
	global $wp_object_cache;
	return $wp_object_cache->get_multiple( $keys, $group, $force );
}

function wp_cache_delete( $key, $group = '' ) {
	global $wp_object_cache;
	return $wp_object_cache->delete( $key, $group );
}

function wp_cache_delete_multiple( array $keys, $group = '' ) {
	global $wp_object_cache;
	return $wp_object_cache->delete_multiple( $keys, $group );
}

function wp_cache_incr( $key, $offset = 1, $group = '' ) {
	global $wp_object_cache;
	return $wp_object_cache->incr( $key, $offset, $group );
}

function wp_cache_decr( $key, $offset = 1, $group = '' ) {
	global $wp_object_cache;
	return $wp_object_cache->decr( $key, $offset, $group );
}

function wp_cache_flush() {
	global $wp_object_cache;
	return $wp_object_cache->flush();
}

function wp_cache_flush_runtime() {
	global $wp_object_cache;
	return $wp_object_cache->flush_runtime();
}

function wp_cache_flush_group( $group ) {
	global $wp_object_cache;
	return $wp_object_cache->flush_group( $group );
}

function wp_cache_supports( $feature ) {
	switch ( $feature ) {
		case 'add_multiple':
		case 'set_multiple':
		case 'get_multiple':
		case 'delete_multiple':
		case 'flush_runtime':
		case 'flush_group':
			return true;
		default:
			return false;
	}
}

function wp_cache_close() {
	global $wp_object_cache;
	return $wp_object_cache->close();
}

function wp_cache_add_global_groups( $groups ) {
	global $wp_object_cache;
	$wp_object_cache->add_global_groups( $groups );
}

function wp_cache_add_non_persistent_groups( $groups ) {
	global $wp_object_cache;
	$wp_object_cache->add_non_persistent_groups( $groups );
}

function wp_cache_switch_to_blog( $blog_id ) {
	global $wp_object_cache;
	$wp_object_cache->switch_to_blog( $blog_id );
}

function wp_cache_reset() {
	if ( function_exists( '_deprecated_function' ) ) {
		_deprecated_function( __FUNCTION__, '3.5.0', 'wp_cache_switch_to_blog()' );
	}
	global $wp_object_cache;
	$wp_object_cache->reset();
}

/**
 * The object cache: a runtime array in front of one or more memcached
 * server groups ("buckets").  Public members follow WordPress core's class.
 */
class WP_Object_Cache {

	/** Longest key the memcached text protocol accepts. */
	const MAX_KEY_LENGTH = 250;

	/** Times the map update is retried when another request races us. */
	const CAS_RETRIES = 5;

	/** Default timeouts, in milliseconds; LARDER_TIMEOUT_MS overrides. */
	const TIMEOUT_MS = 200;

	/** @var array Runtime cache: $cache[ $group ][ $blog_prefix . $key ] = value. */
	public $cache = array();

	/** @var int Lookups answered, from the runtime cache or the server. */
	public $cache_hits = 0;

	/** @var int Lookups that found nothing. */
	public $cache_misses = 0;

	/** @var array Finer counters, see get_stats(). */
	public $stats = array(
		'hits'           => 0,
		'misses'         => 0,
		'runtime_hits'   => 0,
		'server_hits'    => 0,
		'server_misses'  => 0,
		'server_gets'    => 0,
		'server_writes'  => 0,
		'server_errors'  => 0,
	);

	/** @var array Groups shared by all sites of a network, as keys. */
	public $global_groups = array();

	/** @var array Groups kept in the runtime cache only, as keys. */
	public $no_mc_groups = array();

	/** @var string Blog id and ':' on multisite, '' otherwise. */
	public $blog_prefix = '';

	/** @var bool Whether this is a multisite install. */
	public $multisite = false;

	/** @var string WP_CACHE_KEY_SALT, put in front of every server key. */
	public $key_salt = '';

	/** @var array Server list per bucket, normalised: [ bucket => [ [host, port, weight], ... ] ]. */
	public $servers = array();

	/** @var Memcached[] One client per bucket. */
	protected $mc = array();

	/** @var array Buckets given up on for this request, as keys. */
	protected $down = array();

	/** @var array Connection errors seen per bucket in this request. */
	protected $failures = array();

	/** @var array|null The map: [ 'epoch' => string, 'groups' => [ group => version ] ]; null until loaded. */
	protected $map = null;

	/** @var bool True when nothing can reach a server; the runtime cache carries on alone. */
	protected $offline = false;

	/** @var bool True when offline because a server failed, rather than for want of the extension. */
	protected $broken = false;

	/** @var bool Whether the one error_log line of this request has been written. */
	protected $logged = false;

	/**
	 * Reads the configuration and creates (but does not connect) the clients.
	 * A missing extension is not fatal: the cache goes offline.
	 */
	public function __construct() {
		$this->multisite   = function_exists( 'is_multisite' ) && is_multisite();
		$this->blog_prefix = $this->multisite ? $this->current_blog_id() . ':' : '';
		$this->key_salt    = defined( 'WP_CACHE_KEY_SALT' ) ? (string) WP_CACHE_KEY_SALT : '';
		$this->servers     = self::parse_servers( self::configured_servers() );

		if ( ! class_exists( 'Memcached' ) ) {
			$this->go_offline( 'the PHP memcached extension is not loaded (install php-memcached)' );
			return;
		}
		foreach ( $this->servers as $bucket => $list ) {
			$this->mc[ $bucket ] = $this->make_client( $list );
		}
	}

	/*
	 * ---- Configuration ------------------------------------------------
	 */

	/**
	 * The raw server setting: LARDER_SERVERS, else $memcached_servers, else
	 * the local default.
	 */
	protected static function configured_servers() {
		if ( defined( 'LARDER_SERVERS' ) ) {
			return LARDER_SERVERS;
		}
		if ( ! empty( $GLOBALS['memcached_servers'] ) ) {
			return $GLOBALS['memcached_servers'];
		}
		return array( '127.0.0.1:11211' );
	}

	/**
	 * Normalises every accepted form into [ bucket => [ [host, port, weight] ] ]:
	 * 'host:port' (also 'host:port:weight', '[::1]:port', 'unix:///path', '/path'),
	 * [host, port] or [host, port, weight], a comma-separated string of these,
	 * a flat list of these, or per-group lists [ 'default' => [...], 'group' => [...] ].
	 * The bucket 'default' always exists.
	 */
	public static function parse_servers( $config ) {
		if ( is_string( $config ) ) {
			$config = array_filter( array_map( 'trim', explode( ',', $config ) ), 'strlen' );
		}
		$config = (array) $config;

		$per_group = false;
		foreach ( $config as $k => $v ) {
			if ( is_string( $k ) && is_array( $v ) ) {
				$per_group = true;
			}
		}
		if ( ! $per_group || self::is_server_pair( $config ) ) {
			$config = array( 'default' => $config );
		}

		$buckets = array();
		foreach ( $config as $bucket => $list ) {
			if ( is_string( $list ) || self::is_server_pair( $list ) ) {
				$list = array( $list );
			}
			foreach ( (array) $list as $entry ) {
				$server = self::parse_server( $entry );
				if ( $server ) {
					$buckets[ (string) $bucket ][] = $server;
				}
			}
		}
		if ( empty( $buckets['default'] ) ) {
			$buckets['default'] = array( array( '127.0.0.1', 11211, 0 ) );
		}
		return $buckets;
	}

	/** Whether $v is one server written as [host, port(, weight)]. */
	protected static function is_server_pair( $v ) {
		return is_array( $v ) && isset( $v[0] ) && is_string( $v[0] ) && isset( $v[1] ) && is_numeric( $v[1] );
	}

	/** One server entry into [host, port, weight], or null when unreadable. */
	protected static function parse_server( $entry ) {
		if ( is_array( $entry ) ) {
			$entry = array_values( $entry );
			if ( ! isset( $entry[0] ) ) {
				return null;
			}
			return array( (string) $entry[0], (int) ( $entry[1] ?? 11211 ), (int) ( $entry[2] ?? 0 ) );
		}
		$entry = trim( (string) $entry );
		if ( '' === $entry ) {
			return null;
		}
		if ( 0 === strpos( $entry, 'unix://' ) ) {
			return array( substr( $entry, 7 ), 0, 0 );
		}
		if ( '/' === $entry[0] ) {
			return array( $entry, 0, 0 );
		}
		if ( preg_match( '/^\[([0-9a-fA-F:.]+)\](?::(\d+))?(?::(\d+))?$/', $entry, $m ) ) {
			return array( $m[1], (int) ( $m[2] ?? 11211 ) ?: 11211, (int) ( $m[3] ?? 0 ) );
		}
		$parts = explode( ':', $entry );
		if ( count( $parts ) > 3 ) { // A bare IPv6 address.
			return array( $entry, 11211, 0 );
		}
		return array( $parts[0], isset( $parts[1] ) ? (int) $parts[1] : 11211, isset( $parts[2] ) ? (int) $parts[2] : 0 );
	}

	/**
	 * A client for one bucket: text protocol (what Larder speaks), ketama
	 * consistent hashing, short timeouts, failed servers ejected.
	 */
	protected function make_client( array $list ) {
		$ms = defined( 'LARDER_TIMEOUT_MS' ) ? max( 1, (int) LARDER_TIMEOUT_MS ) : self::TIMEOUT_MS;
		$mc = new Memcached();
		$mc->setOptions(
			array(
				Memcached::OPT_BINARY_PROTOCOL       => false,
				Memcached::OPT_LIBKETAMA_COMPATIBLE  => true,
				Memcached::OPT_DISTRIBUTION          => Memcached::DISTRIBUTION_CONSISTENT,
				Memcached::OPT_SERIALIZER            => Memcached::SERIALIZER_PHP,
				Memcached::OPT_TCP_NODELAY           => true,
				Memcached::OPT_NO_BLOCK              => true,
				Memcached::OPT_CONNECT_TIMEOUT       => min( $ms, 100 ),
				Memcached::OPT_POLL_TIMEOUT          => $ms,
				Memcached::OPT_SEND_TIMEOUT          => $ms * 1000,
				Memcached::OPT_RECV_TIMEOUT          => $ms * 1000,
				Memcached::OPT_SERVER_FAILURE_LIMIT  => 1,
				Memcached::OPT_REMOVE_FAILED_SERVERS => true,
				Memcached::OPT_RETRY_TIMEOUT         => 1,
			)
		);
		$mc->addServers( $list );
		return $mc;
	}

	protected function current_blog_id() {
		if ( function_exists( 'get_current_blog_id' ) ) {
			return (int) get_current_blog_id();
		}
		return isset( $GLOBALS['blog_id'] ) ? (int) $GLOBALS['blog_id'] : 1;
	}

	/*
	 * ---- The object-cache API -------------------------------------------
	 */

	/** Stores $data unless the key already exists. */
	public function add( $key, $data, $group = 'default', $expire = 0 ) {
		if ( function_exists( 'wp_suspend_cache_addition' ) && wp_suspend_cache_addition() ) {
			return false;
		}
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );
		if ( $this->in_runtime( $id, $group ) ) {
			return false;
		}
		if ( $this->persistent( $group ) ) {
			$ok = $this->server_write( 'add', $key, $group, $data, $expire );
			if ( null !== $ok ) {
				if ( $ok ) {
					$this->remember( $id, $group, $data );
				}
				return $ok;
			}
		}
		$this->remember( $id, $group, $data );
		return true;
	}

	/** add() for each item; returns [ key => bool ]. */
	public function add_multiple( array $data, $group = '', $expire = 0 ) {
		$result = array();
		foreach ( $data as $key => $value ) {
			$result[ $key ] = $this->add( $key, $value, $group, $expire );
		}
		return $result;
	}

	/** Stores $data only if the key already exists. */
	public function replace( $key, $data, $group = 'default', $expire = 0 ) {
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );
		if ( $this->persistent( $group ) ) {
			$ok = $this->server_write( 'replace', $key, $group, $data, $expire );
			if ( null !== $ok ) {
				if ( $ok ) {
					$this->remember( $id, $group, $data );
				} else {
					unset( $this->cache[ $group ][ $id ] );
				}
				return $ok;
			}
		}
		if ( ! $this->in_runtime( $id, $group ) ) {
			return false;
		}
		$this->remember( $id, $group, $data );
		return true;
	}

	/** Stores $data, whether or not the key exists. */
	public function set( $key, $data, $group = 'default', $expire = 0 ) {
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$this->remember( $this->id( $key, $group ), $group, $data );
		if ( $this->persistent( $group ) ) {
			$ok = $this->server_write( 'set', $key, $group, $data, $expire );
			if ( false === $ok ) {
				return false;
			}
		}
		return true;
	}

	/** set() for each item; returns [ key => bool ]. */
	public function set_multiple( array $data, $group = '', $expire = 0 ) {
		$result = array();
		foreach ( $data as $key => $value ) {
			$result[ $key ] = $this->set( $key, $value, $group, $expire );
		}
		return $result;
	}

	/**
	 * Returns the value, or false with $found = false on a miss.  $force
	 * skips the runtime cache and asks the server.
	 */
	public function get( $key, $group = 'default', $force = false, &$found = null ) {
		$found = false;
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );
		$ask   = $this->persistent( $group );

		if ( ( ! $force || ! $ask ) && $this->in_runtime( $id, $group ) ) {
			$found = true;
			$this->count_hit( 'runtime_hits' );
			return $this->copy( $this->cache[ $group ][ $id ] );
		}
		if ( $ask ) {
			$value = $this->server_get( $key, $group, $found );
			if ( $found ) {
				$this->remember( $id, $group, $value );
				$this->count_hit( 'server_hits' );
				return $value;
			}
			if ( $force ) {
				unset( $this->cache[ $group ][ $id ] );
			}
		}
		$this->count_miss();
		return false;
	}

	/**
	 * Returns [ key => value or false ] in the order of $keys; what the
	 * runtime cache lacks is fetched with one multi-get.
	 */
	public function get_multiple( $keys, $group = 'default', $force = false ) {
		$group  = $this->group( $group );
		$ask    = $this->persistent( $group );
		$result = array();
		$fetch  = array();

		foreach ( (array) $keys as $key ) {
			$result[ $key ] = false;
			if ( ! $this->is_valid_key( $key ) ) {
				continue;
			}
			$id = $this->id( $key, $group );
			if ( ( ! $force || ! $ask ) && $this->in_runtime( $id, $group ) ) {
				$result[ $key ] = $this->copy( $this->cache[ $group ][ $id ] );
				$this->count_hit( 'runtime_hits' );
			} elseif ( $ask ) {
				$fetch[ $key ] = $id;
			} else {
				$this->count_miss();
			}
		}
		if ( ! $fetch ) {
			return $result;
		}

		$found = $this->server_get_multi( array_keys( $fetch ), $group );
		foreach ( $fetch as $key => $id ) {
			if ( array_key_exists( $key, $found ) ) {
				$result[ $key ] = $found[ $key ];
				$this->remember( $id, $group, $found[ $key ] );
				$this->count_hit( 'server_hits' );
			} else {
				if ( $force ) {
					unset( $this->cache[ $group ][ $id ] );
				}
				$this->count_miss();
			}
		}
		return $result;
	}

	/** Removes the key; true when something was removed. */
	public function delete( $key, $group = 'default', $deprecated = false ) {
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );
		$had   = $this->in_runtime( $id, $group );
		unset( $this->cache[ $group ][ $id ] );

		if ( $this->persistent( $group ) ) {
			$ok = $this->server_delete( $key, $group );
			if ( null !== $ok ) {
				return $ok;
			}
		}
		return $had;
	}

	/** delete() for each key; returns [ key => bool ]. */
	public function delete_multiple( array $keys, $group = '' ) {
		$result = array();
		foreach ( $keys as $key ) {
			$result[ $key ] = $this->delete( $key, $group );
		}
		return $result;
	}

	/** Adds $offset to a numeric value; false when the key does not exist. */
	public function incr( $key, $offset = 1, $group = 'default' ) {
		return $this->bump( $key, (int) $offset, $group );
	}

	/** Subtracts $offset, never going below 0; false when the key does not exist. */
	public function decr( $key, $offset = 1, $group = 'default' ) {
		return $this->bump( $key, -(int) $offset, $group );
	}

	/**
	 * Empties the cache of this site: the runtime array, and on the server a
	 * new epoch, which makes every older item of this key salt unreachable.
	 */
	public function flush() {
		$this->cache = array();
		if ( ! $this->load_map() ) {
			return ! $this->broken; // Without the extension there is nothing more to flush.
		}
		$map = array(
			'epoch'  => self::token(),
			'groups' => array(),
		);
		$mc  = $this->mc['default'];
		$ok  = $mc->set( $this->map_key(), $map );
		$this->check( 'default', 'flush' );
		if ( $ok ) {
			$this->map = $map;
		}
		return $ok;
	}

	/** Empties the runtime cache; the map is read again on next use. */
	public function flush_runtime() {
		$this->cache = array();
		$this->map   = null;
		return true;
	}

	/** Empties one group, by giving it a new version in the map. */
	public function flush_group( $group ) {
		$group = $this->group( $group );
		unset( $this->cache[ $group ] );
		if ( ! $this->persistent( $group ) ) {
			return true;
		}
		$mc = $this->mc['default'];
		for ( $try = 0; $try < self::CAS_RETRIES; $try++ ) {
			$this->map = null;
			$cas       = null;
			if ( ! $this->load_map( $cas ) ) {
				return false;
			}
			$map                      = $this->map;
			$map['groups'][ $group ]  = self::token();
			$ok = $mc->cas( $cas, $this->map_key(), $map );
			if ( $ok ) {
				$this->map = $map;
				return true;
			}
			$code = $mc->getResultCode();
			$this->check( 'default', 'flush_group' );
			if ( Memcached::RES_DATA_EXISTS !== $code && Memcached::RES_NOTFOUND !== $code ) {
				break;
			}
		}
		$this->map = null;
		return false;
	}

	/** Marks groups as shared by all sites of a network. */
	public function add_global_groups( $groups ) {
		$groups              = array_fill_keys( (array) $groups, true );
		$this->global_groups = array_merge( $this->global_groups, $groups );
	}

	/** Marks groups as runtime-only: never sent to the server. */
	public function add_non_persistent_groups( $groups ) {
		$groups             = array_fill_keys( (array) $groups, true );
		$this->no_mc_groups = array_merge( $this->no_mc_groups, $groups );
	}

	/** Changes the blog id used in the keys of per-site groups. */
	public function switch_to_blog( $blog_id ) {
		$this->blog_prefix = $this->multisite ? (int) $blog_id . ':' : '';
	}

	/** Deprecated in WordPress 3.5: forgets the per-site groups of the runtime cache. */
	public function reset() {
		if ( function_exists( '_deprecated_function' ) ) {
			_deprecated_function( __FUNCTION__, '3.5.0', 'WP_Object_Cache::switch_to_blog()' );
		}
		foreach ( array_keys( $this->cache ) as $group ) {
			if ( ! isset( $this->global_groups[ $group ] ) ) {
				unset( $this->cache[ $group ] );
			}
		}
	}

	/** Closes the connections; the cache reconnects if used again. */
	public function close() {
		foreach ( $this->mc as $mc ) {
			$mc->quit();
		}
		return true;
	}

	/** Prints hits, misses and the size of each runtime group, like core. */
	public function stats() {
		$esc = function_exists( 'esc_html' ) ? 'esc_html' : 'htmlspecialchars';
		echo '<p>';
		echo "<strong>Cache Hits:</strong> {$this->cache_hits}<br />";
		echo "<strong>Cache Misses:</strong> {$this->cache_misses}<br />";
		echo '<strong>Server:</strong> ' . ( $this->offline ? 'offline' : 'online' ) . '<br />';
		echo '</p>';
		echo '<ul>';
		foreach ( $this->cache as $group => $cache ) {
			echo '<li><strong>Group:</strong> ' . call_user_func( $esc, $group ) . ' - ( ' . number_format( strlen( serialize( $cache ) ) / 1024, 2 ) . 'k )</li>';
		}
		echo '</ul>';
	}

	/** The counters as an array, with 'offline' and the hit ratio added. */
	public function get_stats() {
		$stats              = $this->stats;
		$lookups            = $stats['hits'] + $stats['misses'];
		$stats['ratio']     = $lookups ? $stats['hits'] / $lookups : 0.0;
		$stats['offline']   = $this->offline;
		return $stats;
	}

	/** Whether the server side is unusable for the rest of this request. */
	public function is_offline() {
		return $this->offline;
	}

	/** The server key an API key maps to, for tests and debugging; null when offline. */
	public function server_key( $key, $group = 'default' ) {
		$group = $this->group( $group );
		return $this->persistent( $group ) ? $this->key( $key, $group ) : null;
	}

	/*
	 * ---- Runtime cache ---------------------------------------------------
	 */

	/** Same test as core: an int, or a string that is not blank. */
	protected function is_valid_key( $key ) {
		if ( is_int( $key ) || ( is_string( $key ) && '' !== trim( $key ) ) ) {
			return true;
		}
		if ( function_exists( '_doing_it_wrong' ) ) {
			$message = is_string( $key )
				? 'Cache key must not be an empty string.'
				: sprintf( 'Cache key must be integer or non-empty string, %s given.', gettype( $key ) );
			_doing_it_wrong( __CLASS__ . '::' . debug_backtrace( DEBUG_BACKTRACE_IGNORE_ARGS, 2 )[1]['function'], $message, '6.1.0' );
		}
		return false;
	}

	protected function group( $group ) {
		return ( '' === $group || null === $group || false === $group ) ? 'default' : (string) $group;
	}

	/** The runtime-cache id of a key: the blog prefix for per-site groups, as core does. */
	protected function id( $key, $group ) {
		if ( $this->multisite && ! isset( $this->global_groups[ $group ] ) ) {
			return $this->blog_prefix . $key;
		}
		return (string) $key;
	}

	protected function in_runtime( $id, $group ) {
		return isset( $this->cache[ $group ] ) && array_key_exists( $id, $this->cache[ $group ] );
	}

	/** Keeps a private copy, so that changing the caller's object later does not change the cache. */
	protected function remember( $id, $group, $data ) {
		$this->cache[ $group ][ $id ] = is_object( $data ) ? clone $data : $data;
	}

	/** Hands out a copy, so that changing the returned object does not change the cache. */
	protected function copy( $data ) {
		return is_object( $data ) ? clone $data : $data;
	}

	protected function count_hit( $where ) {
		$this->cache_hits++;
		$this->stats['hits']++;
		$this->stats[ $where ]++;
	}

	protected function count_miss() {
		$this->cache_misses++;
		$this->stats['misses']++;
	}

	/** Whether the group goes to the server (and the server is usable). */
	protected function persistent( $group ) {
		if ( $this->offline || isset( $this->no_mc_groups[ $group ] ) ) {
			return false;
		}
		return $this->load_map() && ! isset( $this->down[ $this->bucket( $group ) ] );
	}

	/*
	 * incr/decr.  The server does the arithmetic when it can (atomic across
	 * requests).  When the stored value is not a plain number (a float, a
	 * string) the server refuses, and the result is computed here as core
	 * does: a non-number counts as 0 and the result never goes below 0.
	 */
	protected function bump( $key, $offset, $group ) {
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );

		if ( $this->persistent( $group ) ) {
			$bucket = $this->bucket( $group );
			$mc     = $this->mc[ $bucket ];
			$skey   = $this->key( $key, $group );
			$value  = $offset >= 0 ? $mc->increment( $skey, $offset ) : $mc->decrement( $skey, -$offset );
			$code   = $mc->getResultCode();
			$this->stats['server_writes']++;
			if ( Memcached::RES_SUCCESS === $code ) {
				$this->cache[ $group ][ $id ] = $value;
				return $value;
			}
			if ( Memcached::RES_NOTFOUND === $code ) {
				unset( $this->cache[ $group ][ $id ] );
				return false;
			}
			if ( $this->check( $bucket, 'incr' ) ) {
				$found = false;
				$old   = $this->server_get( $key, $group, $found );
				if ( ! $found ) {
					return false;
				}
				$new = max( 0, ( is_numeric( $old ) ? $old : 0 ) + $offset );
				$this->set( $key, $new, $group );
				return $new;
			}
		}

		if ( ! $this->in_runtime( $id, $group ) ) {
			return false;
		}
		$old                          = $this->cache[ $group ][ $id ];
		$new                          = max( 0, ( is_numeric( $old ) ? $old : 0 ) + $offset );
		$this->cache[ $group ][ $id ] = $new;
		return $new;
	}

	/*
	 * ---- Server side -----------------------------------------------------
	 */

	/** The bucket of a group: its own when configured, else 'default'. */
	protected function bucket( $group ) {
		return isset( $this->mc[ $group ] ) ? $group : 'default';
	}

	protected function map_key() {
		return $this->safe_key( $this->key_salt . 'larder:map' );
	}

	/**
	 * The server key of an API key: salt, epoch, group, group version, blog
	 * prefix, key.  The group is url-encoded so that it holds no ':' and two
	 * (group, key) pairs can never give the same string.
	 */
	protected function key( $key, $group ) {
		$version = isset( $this->map['groups'][ $group ] ) ? $this->map['groups'][ $group ] : '0';
		$full    = $this->key_salt . $this->map['epoch'] . ':' . rawurlencode( $group ) . ':' . $version . ':' . $this->id( $key, $group );
		return $this->safe_key( $full );
	}

	/**
	 * Keys the text protocol cannot carry (too long, spaces, control or
	 * non-ASCII bytes) are replaced by a hash of the whole key.
	 */
	protected function safe_key( $full ) {
		if ( strlen( $full ) <= self::MAX_KEY_LENGTH && preg_match( '/^[\x21-\x7e]+$/D', $full ) ) {
			return $full;
		}
		return 'larder:h:' . hash( 'sha256', $full );
	}

	/** A fresh random version string. */
	protected static function token() {
		return bin2hex( random_bytes( 6 ) );
	}

	/**
	 * Reads the map once per request, creating it with a new epoch when it is
	 * missing.  Returns false (and the cache goes offline) when the default
	 * bucket cannot be reached.  $cas receives the map's CAS token.
	 */
	protected function load_map( &$cas = null ) {
		if ( $this->offline ) {
			return false;
		}
		if ( null !== $this->map ) {
			return true;
		}
		$mc  = $this->mc['default'];
		$key = $this->map_key();
		for ( $try = 0; $try < self::CAS_RETRIES; $try++ ) {
			$got = $mc->get( $key, null, Memcached::GET_EXTENDED );
			$this->stats['server_gets']++;
			if ( Memcached::RES_SUCCESS === $mc->getResultCode() && self::valid_map( $got['value'] ) ) {
				$this->map = $got['value'];
				$cas       = $got['cas'];
				return true;
			}
			if ( Memcached::RES_NOTFOUND !== $mc->getResultCode() && ! $this->check( 'default', 'read the key map' ) ) {
				break;
			}
			$fresh = array(
				'epoch'  => self::token(),
				'groups' => array(),
			);
			// add() so that of two requests creating the map at once, one wins and both use its epoch.
			if ( Memcached::RES_SUCCESS !== $mc->getResultCode() ) {
				$mc->add( $key, $fresh );
			} else {
				$mc->set( $key, $fresh ); // Unreadable map: replace it.
			}
			$this->stats['server_writes']++;
			if ( ! $this->check( 'default', 'create the key map' ) ) {
				break;
			}
		}
		if ( ! $this->offline ) {
			$this->broken = true;
			$this->go_offline( 'could not read or create the key map on ' . $this->describe( 'default' ) . ': ' . $mc->getResultMessage() );
		}
		return false;
	}

	protected static function valid_map( $map ) {
		return is_array( $map ) && isset( $map['epoch'], $map['groups'] ) && is_string( $map['epoch'] ) && is_array( $map['groups'] );
	}

	/** Fetches one key; $found tells a stored false from a miss. */
	protected function server_get( $key, $group, &$found ) {
		$bucket = $this->bucket( $group );
		$mc     = $this->mc[ $bucket ];
		$value  = $mc->get( $this->key( $key, $group ) );
		$code   = $mc->getResultCode();
		$this->stats['server_gets']++;
		$found = ( Memcached::RES_SUCCESS === $code );
		if ( ! $found ) {
			$this->stats['server_misses']++;
			if ( Memcached::RES_NOTFOUND !== $code ) {
				$this->check( $bucket, 'get' );
			}
			return false;
		}
		return $value;
	}

	/** Fetches several keys of one group in one round trip; returns [ key => value ] for those found. */
	protected function server_get_multi( array $keys, $group ) {
		$bucket = $this->bucket( $group );
		$mc     = $this->mc[ $bucket ];
		$map    = array();
		foreach ( $keys as $key ) {
			$map[ $this->key( $key, $group ) ] = $key;
		}
		$got = $mc->getMulti( array_keys( $map ) );
		$this->stats['server_gets']++;
		if ( false === $got ) {
			$this->check( $bucket, 'get_multiple' );
			$got = array();
		}
		$found = array();
		foreach ( $got as $skey => $value ) {
			if ( isset( $map[ $skey ] ) ) {
				$found[ $map[ $skey ] ] = $value;
			}
		}
		$this->stats['server_misses'] += count( $keys ) - count( $found );
		return $found;
	}

	/**
	 * add, replace or set on the server.  Returns true or false as the server
	 * answered, or null when the server could not be reached.  When a set is
	 * refused (item too large, out of memory), the old item is deleted so
	 * that it cannot be served stale.
	 */
	protected function server_write( $op, $key, $group, $data, $expire ) {
		$bucket = $this->bucket( $group );
		$mc     = $this->mc[ $bucket ];
		$skey   = $this->key( $key, $group );
		$ok     = $mc->$op( $skey, $data, self::expiry( $expire ) );
		$code   = $mc->getResultCode();
		$this->stats['server_writes']++;
		if ( $ok ) {
			return true;
		}
		if ( Memcached::RES_NOTSTORED === $code || Memcached::RES_DATA_EXISTS === $code ) {
			return false;
		}
		if ( ! $this->check( $bucket, $op ) ) {
			return null;
		}
		if ( 'add' !== $op ) {
			$mc->delete( $skey );
		}
		return false;
	}

	/** Deletes on the server: true when deleted, false when absent, null when unreachable. */
	protected function server_delete( $key, $group ) {
		$bucket = $this->bucket( $group );
		$mc     = $this->mc[ $bucket ];
		$ok     = $mc->delete( $this->key( $key, $group ) );
		$this->stats['server_writes']++;
		if ( $ok ) {
			return true;
		}
		if ( Memcached::RES_NOTFOUND === $mc->getResultCode() ) {
			return false;
		}
		return $this->check( $bucket, 'delete' ) ? false : null;
	}

	/**
	 * WordPress expirations are seconds from now; memcached reads values over
	 * 30 days as a Unix time, so those are converted.
	 */
	protected static function expiry( $expire ) {
		$expire = (int) $expire;
		if ( $expire <= 0 ) {
			return 0;
		}
		return $expire > 2592000 ? time() + $expire : $expire;
	}

	/*
	 * ---- Failure handling ------------------------------------------------
	 */

	/**
	 * Looks at the result of the last call on a bucket's client.  Returns
	 * true when the server answered (even with an error), false when it
	 * could not be reached.  After enough connection errors the bucket is
	 * given up for this request; if it is the default bucket, which holds
	 * the map, the whole cache goes offline.
	 */
	protected function check( $bucket, $what ) {
		$mc   = $this->mc[ $bucket ];
		$code = $mc->getResultCode();
		if ( ! self::is_connection_error( $code ) ) {
			if ( Memcached::RES_SUCCESS !== $code ) {
				$this->stats['server_errors']++;
			}
			return true;
		}
		$this->stats['server_errors']++;
		$this->failures[ $bucket ] = ( $this->failures[ $bucket ] ?? 0 ) + 1;
		$limit                     = count( $this->servers[ $bucket ] ) + 1;
		if ( Memcached::RES_NO_SERVERS === $code || $this->failures[ $bucket ] >= $limit ) {
			$this->down[ $bucket ] = true;
			$reason                = sprintf( '%s failed on %s: %s', $what, $this->describe( $bucket ), $mc->getResultMessage() );
			if ( 'default' === $bucket ) {
				$this->broken = true;
				$this->go_offline( $reason );
			} else {
				$this->log( $reason . '; that group stays in the per-request cache' );
			}
		}
		return false;
	}

	protected static function is_connection_error( $code ) {
		switch ( $code ) {
			case Memcached::RES_HOST_LOOKUP_FAILURE:
			case Memcached::RES_CONNECTION_FAILURE:
			case Memcached::RES_CONNECTION_BIND_FAILURE:
			case Memcached::RES_WRITE_FAILURE:
			case Memcached::RES_READ_FAILURE:
			case Memcached::RES_UNKNOWN_READ_FAILURE:
			case Memcached::RES_ERRNO:
			case Memcached::RES_TIMEOUT:
			case Memcached::RES_NO_SERVERS:
			case Memcached::RES_SERVER_MARKED_DEAD:
			case Memcached::RES_SERVER_TEMPORARILY_DISABLED:
			case Memcached::RES_CONNECTION_SOCKET_CREATE_FAILURE:
			case Memcached::RES_FAIL_UNIX_SOCKET:
			case Memcached::RES_IN_PROGRESS:
				return true;
			default:
				return false;
		}
	}

	protected function describe( $bucket ) {
		$names = array();
		foreach ( $this->servers[ $bucket ] as $s ) {
			$names[] = $s[1] ? $s[0] . ':' . $s[1] : $s[0];
		}
		return implode( ', ', $names );
	}

	/** Stops using the server for the rest of the request; logs why, once. */
	protected function go_offline( $reason ) {
		$this->offline = true;
		$this->log( $reason . '; WordPress carries on with a per-request cache only' );
	}

	/** One error_log line per request at most. */
	protected function log( $message ) {
		if ( $this->logged ) {
			return;
		}
		$this->logged = true;
		error_log( 'Larder object cache: ' . $message );
	}
}
