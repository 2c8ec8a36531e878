<?php
/**
 * The few WordPress functions object-cache.php calls, faked for running
 * it outside WordPress (PHPUnit tests and the child processes they start).
 */

$GLOBALS['fake_wp'] = array(
	'suspend'   => false,
	'multisite' => false,
	'blog_id'   => 1,
	'wrong'     => array(),
	'ext_cache' => null,
);

function wp_using_ext_object_cache( $using = null ) {
	$old = $GLOBALS['fake_wp']['ext_cache'];
	if ( null !== $using ) {
		$GLOBALS['fake_wp']['ext_cache'] = (bool) $using;
	}
	return $old;
}

function wp_suspend_cache_addition( $suspend = null ) {
	if ( is_bool( $suspend ) ) {
		$GLOBALS['fake_wp']['suspend'] = $suspend;
	}
	return $GLOBALS['fake_wp']['suspend'];
}

function is_multisite() {
	return $GLOBALS['fake_wp']['multisite'];
}

function get_current_blog_id() {
	return $GLOBALS['fake_wp']['blog_id'];
}

function _doing_it_wrong( $function, $message, $version ) {
	$GLOBALS['fake_wp']['wrong'][] = $function . ': ' . $message;
}

function _deprecated_function( $function, $version, $replacement = '' ) {
}

function esc_html( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES );
}
