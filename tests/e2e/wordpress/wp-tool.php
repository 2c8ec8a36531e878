<?php
/**
 * WordPress chores for tests/e2e/wordpress.sh, run with the PHP CLI:
 *
 *   php wp-tool.php <wordpress dir> install          install the site, theme, content
 *   php wp-tool.php <wordpress dir> edit <suffix>    change a post, an option, a category
 *   php wp-tool.php <wordpress dir> ids              print post and category ids as JSON
 *   php wp-tool.php <wordpress dir> set-option <name> <value>
 *   php wp-tool.php <wordpress dir> retitle <suffix> change the feature post's title only
 *   php wp-tool.php <wordpress dir> login-cookie     print the admin's cookies (for curl -b)
 *   php wp-tool.php <wordpress dir> companion activate|status|enable|disable|flush|health
 *                                                    the companion plugin, in this WordPress
 *
 * Each prints one JSON object on success and exits non-zero on failure.
 */

if ( $argc < 3 ) {
	fwrite( STDERR, "usage: php wp-tool.php <wordpress dir> install|edit|ids\n" );
	exit( 2 );
}
list( , $root, $command ) = $argv;
$_SERVER['HTTP_HOST'] = parse_url( getenv( 'WP_E2E_URL' ), PHP_URL_HOST ) . ':' . parse_url( getenv( 'WP_E2E_URL' ), PHP_URL_PORT );

function fail( $message ) {
	fwrite( STDERR, "wp-tool: $message\n" );
	exit( 1 );
}

function ids() {
	$post = get_page_by_path( 'larder-feature', OBJECT, 'post' );
	$cat  = get_category_by_slug( 'larder-news' );
	if ( ! $post || ! $cat ) {
		fail( 'test content missing' );
	}
	return array(
		'post'     => $post->ID,
		'category' => $cat->term_id,
	);
}

if ( 'install' === $command ) {
	define( 'WP_INSTALLING', true );
	require $root . '/wp-load.php';
	// Pluggable: no welcome mail (there is no mailer, and nowhere to send it).
	function wp_new_blog_notification() {
	}
	require_once ABSPATH . 'wp-admin/includes/upgrade.php';
	if ( is_blog_installed() ) {
		fail( 'already installed' );
	}
	$result = wp_install( 'Larder Pantry', 'admin', 'admin@example.invalid', true, '', 'e2e-password' );
	if ( empty( $result['user_id'] ) ) {
		fail( 'wp_install failed' );
	}
	switch_theme( 'larder-test' );
	update_option( 'blogdescription', 'Kept fresh by Larder' );

	$cat = wp_insert_term( 'Larder News', 'category', array( 'slug' => 'larder-news' ) );
	if ( is_wp_error( $cat ) ) {
		fail( $cat->get_error_message() );
	}
	for ( $i = 1; $i <= 6; $i++ ) {
		$id = wp_insert_post(
			array(
				'post_title'    => "Pantry note $i",
				'post_content'  => "Body of pantry note $i.",
				'post_status'   => 'publish',
				'post_author'   => $result['user_id'],
				'post_category' => $i % 2 ? array( $cat['term_id'] ) : array( 1 ),
				'tags_input'    => array( 'cache', "tag$i" ),
				'post_date'     => gmdate( 'Y-m-d H:i:s', time() - ( 10 - $i ) * DAY_IN_SECONDS ),
			),
			true
		);
		if ( is_wp_error( $id ) ) {
			fail( $id->get_error_message() );
		}
	}
	$id = wp_insert_post(
		array(
			'post_title'    => 'Larder feature',
			'post_name'     => 'larder-feature',
			'post_content'  => 'The feature post body: memcached compatible.',
			'post_status'   => 'publish',
			'post_author'   => $result['user_id'],
			'post_category' => array( $cat['term_id'] ),
		),
		true
	);
	if ( is_wp_error( $id ) ) {
		fail( $id->get_error_message() );
	}
	wp_insert_comment(
		array(
			'comment_post_ID'  => $id,
			'comment_content'  => 'First comment',
			'comment_approved' => 1,
			'comment_author'   => 'Reader',
		)
	);
	echo json_encode( ids() ), "\n";
	exit( 0 );
}

require $root . '/wp-load.php';

if ( 'ids' === $command ) {
	echo json_encode( ids() ), "\n";
	exit( 0 );
}

if ( 'set-option' === $command ) {
	update_option( $argv[3], $argv[4] );
	echo json_encode(
		array(
			'option' => $argv[3],
			'value'  => get_option( $argv[3] ),
			'dropin' => defined( 'LARDER_OBJECT_CACHE' ),
		)
	), "\n";
	exit( 0 );
}

if ( 'retitle' === $command ) {
	$ids = ids();
	$ok  = wp_update_post(
		array(
			'ID'         => $ids['post'],
			'post_title' => 'Larder feature ' . $argv[3],
		),
		true
	);
	if ( is_wp_error( $ok ) ) {
		fail( $ok->get_error_message() );
	}
	echo json_encode( array( 'post' => $ids['post'] ) ), "\n";
	exit( 0 );
}

if ( 'login-cookie' === $command ) {
	$user = get_user_by( 'login', 'admin' );
	echo LOGGED_IN_COOKIE . '=' . rawurlencode( wp_generate_auth_cookie( $user->ID, time() + 3600, 'logged_in' ) ) . '; '
		. AUTH_COOKIE . '=' . rawurlencode( wp_generate_auth_cookie( $user->ID, time() + 3600, 'auth' ) ), "\n";
	exit( 0 );
}

if ( 'companion' === $command ) {
	$what = $argv[3] ?? 'status';
	if ( 'activate' === $what ) {
		require_once ABSPATH . 'wp-admin/includes/plugin.php';
		$r = activate_plugin( 'larder-object-cache/larder-object-cache.php' );
		if ( is_wp_error( $r ) ) {
			fail( $r->get_error_message() );
		}
		echo json_encode( array( 'active' => is_plugin_active( 'larder-object-cache/larder-object-cache.php' ) ) ), "\n";
		exit( 0 );
	}
	if ( ! class_exists( 'Larder_CLI' ) ) {
		fail( 'the companion plugin is not loaded' );
	}
	$cli = new Larder_CLI( new Larder_Manager() );
	if ( 'health' === $what ) { // What Tools → Site Health runs.
		$out = array();
		foreach ( apply_filters( 'site_status_tests', array( 'direct' => array(), 'async' => array() ) )['direct'] as $name => $test ) {
			if ( 0 === strpos( $name, 'larder_' ) ) {
				$out[ $name ] = call_user_func( $test['test'] )['status'];
			}
		}
		echo json_encode( $out ), "\n";
		exit( 0 );
	}
	$result = call_user_func( array( $cli, $what ) );
	echo json_encode( $result + array( 'type' => function_exists( 'wp_cache_get_type' ) ? wp_cache_get_type() : 'Default' ) ), "\n";
	exit( $result['ok'] ? 0 : 1 );
}

if ( 'edit' === $command ) {
	$suffix = $argv[3] ?? 'edited';
	$ids    = ids();
	$ok     = wp_update_post(
		array(
			'ID'         => $ids['post'],
			'post_title' => "Larder feature $suffix",
		),
		true
	);
	if ( is_wp_error( $ok ) ) {
		fail( $ok->get_error_message() );
	}
	update_option( 'blogname', "Larder Pantry $suffix" );
	$term = wp_update_term( $ids['category'], 'category', array( 'name' => "Larder News $suffix" ) );
	if ( is_wp_error( $term ) ) {
		fail( $term->get_error_message() );
	}
	$new = wp_insert_post(
		array(
			'post_title'   => "Fresh post $suffix",
			'post_content' => 'Just written.',
			'post_status'  => 'publish',
		),
		true
	);
	if ( is_wp_error( $new ) ) {
		fail( $new->get_error_message() );
	}
	$trashed = get_page_by_path( 'pantry-note-6', OBJECT, 'post' );
	if ( $trashed ) {
		wp_trash_post( $trashed->ID );
	}
	echo json_encode(
		array(
			'post'         => $ids['post'],
			'new'          => $new,
			'dropin'       => defined( 'LARDER_OBJECT_CACHE' ),
			'external'     => wp_using_ext_object_cache(),
		)
	), "\n";
	exit( 0 );
}

fail( "unknown command $command" );
